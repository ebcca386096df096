"""SmbShare module functions: Get-/Set-SmbClientConfiguration and Get-/Set-SmbServerConfiguration.

They exist only from build 9200 (docs/windows-facts.md#smbshare-availability: on Windows 7 / 2008 R2 the name is not
recognized). Each CIM property reads the registry value it stands for under
LanmanWorkstation / LanmanServer ``Parameters`` (a missing value shows the built-in default), so
a Set through the cmdlet is visible to Get-ItemProperty and vice versa. Output objects carry
the CIM type names of docs/windows-facts.md#smbshare-output-type with Boolean / UInt32 / String properties.

The Set functions ask for confirmation unless ``-Force`` or ``-Confirm:$false`` (docs/windows-facts.md#smbshare-set-force);
over WinRM there is no one to answer, so that fails with HostFunctionNotImplemented.

The prompt's wording follows the SmbShare cmdlets' documented confirmations ("Performing
operation 'Modify' on Target '...'.", Microsoft Learn, Block-SmbShareAccess example 1). The
lab's own choices, not Windows facts: the property sets per build approximate the documented
output; a value that is not a DWORD (e.g. REG_SZ after drift) reads as the default; a
non-admin Set fails with CimException "Access denied" (``Windows System Error 5``),
non-terminating; the confirmation target is 'SMB Client Configuration' (or Server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psrpcore.types import CommandTypes, ErrorCategory, PSNoteProperty, PSObject, PSString, PSUInt

from toolkit.lab.cmdlets import CmdletDef, Context, Param, confirm_refused, wants_confirmation
from toolkit.lab.emit import Emission, Output
from toolkit.lab.profiles import SERVER_KEY, WORKSTATION_KEY, Profile
from toolkit.lab.registry import ValueKind

_CIM_NS = "ROOT/Microsoft/Windows/SMB"
_CIPHERS = "AES_128_GCM, AES_128_CCM, AES_256_GCM, AES_256_CCM"


@dataclass(frozen=True)
class CimProp:
    """One CIM property: its type, registry value, default and the first build that has it."""

    name: str
    kind: str  # bool | uint32 | string
    default: Any
    registry_name: str | None = None
    min_build: int = 9200

    @property
    def value_name(self) -> str:
        return self.registry_name or self.name


def _b(name: str, default: bool, min_build: int = 9200, reg: str | None = None) -> CimProp:
    return CimProp(name, "bool", default, reg, min_build)


def _u(name: str, default: int, min_build: int = 9200, reg: str | None = None) -> CimProp:
    return CimProp(name, "uint32", default, reg, min_build)


def _s(name: str, default: str, min_build: int = 9200) -> CimProp:
    return CimProp(name, "string", default, None, min_build)


CLIENT_PROPS: tuple[CimProp, ...] = (
    _u("ConnectionCountPerRssNetworkInterface", 4),
    _u("DirectoryCacheEntriesMax", 16),
    _u("DirectoryCacheEntrySizeMax", 65536),
    _u("DirectoryCacheLifetime", 10),
    _u("DormantFileLimit", 1023),
    _b("EnableBandwidthThrottling", True),
    _b("EnableByteRangeLockingOnReadOnlyFiles", True),
    _b("EnableInsecureGuestLogons", False, 10240, reg="AllowInsecureGuestAuth"),
    _b("EnableLargeMtu", True),
    _b("EnableLoadBalanceScaleOut", True, 9600),
    _b("EnableMultiChannel", True),
    _b("EnableSecuritySignature", True),
    _u("ExtendedSessionTimeout", 1000),
    _u("FileInfoCacheEntriesMax", 64),
    _u("FileInfoCacheLifetime", 10),
    _u("FileNotFoundCacheEntriesMax", 128),
    _u("FileNotFoundCacheLifetime", 5),
    _u("KeepConn", 600),
    _u("MaxCmds", 50),
    _u("MaximumConnectionCountPerServer", 32),
    _b("OplocksDisabled", False),
    _b("RequireSecuritySignature", False),
    _u("SessionTimeout", 60),
    _b("UseOpportunisticLocking", True),
    _u("WindowSizeThreshold", 1),
    _b("SkipCertificateCheck", False, 20348),
    _b("ForceSMBEncryptionOverQuic", False, 20348),
    _b("DisableCompression", False, 20348),
    _s("EncryptionCiphers", _CIPHERS, 20348),
    _b("RequireEncryption", False, 26100),
    _b("BlockNTLM", False, 26100),
    _b("AuditServerDoesNotSupportEncryption", False, 26100),
    _b("AuditServerDoesNotSupportSigning", False, 26100),
    _b("AuditInsecureGuestLogon", False, 26100),
    _u("Smb2DialectMin", 0, 26100),
    _u("Smb2DialectMax", 0, 26100),
)

SERVER_PROPS: tuple[CimProp, ...] = (
    _s("AnnounceComment", ""),
    _b("AnnounceServer", False),
    _u("AsynchronousCredits", 512),
    _b("AuditSmb1Access", False, 10240),
    _u("AutoDisconnectTimeout", 15, reg="autodisconnect"),
    _b("AutoShareServer", True),
    _b("AutoShareWorkstation", True),
    _u("CachedOpenLimit", 10),
    _u("DurableHandleV2TimeoutInSeconds", 180, 9600),
    _b("EnableAuthenticateUserSharing", False),
    _b("EnableDownlevelTimewarp", False),
    _b("EnableForcedLogoff", True, reg="enableforcedlogoff"),
    _b("EnableLeasing", True),
    _b("EnableMultiChannel", True),
    _b("EnableOplocks", True),
    _b("EnableSecuritySignature", False),
    # SMB1 defaults: enabled before 1709 (16299), removed/disabled after.
    _b("EnableSMB1Protocol", True, reg="SMB1"),
    _b("EnableSMB2Protocol", True, reg="SMB2"),
    _b("EnableStrictNameChecking", True),
    _b("EncryptData", False),
    _u("IrpStackSize", 15),
    _u("KeepAliveTime", 2),
    _u("MaxChannelPerSession", 32),
    _u("MaxMpxCount", 50),
    _u("MaxSessionPerConnection", 16384),
    _u("MaxThreadsPerQueue", 20),
    _u("MaxWorkItems", 1),
    _s("NullSessionPipes", ""),
    _s("NullSessionShares", ""),
    _u("OplockBreakWait", 35),
    _u("PendingClientTimeoutInSeconds", 120),
    _b("RejectUnencryptedAccess", True),
    _b("RequireSecuritySignature", False),
    _b("ServerHidden", True),
    _u("Smb2CreditsMax", 8192),
    _u("Smb2CreditsMin", 512),
    _u("SmbServerNameHardeningLevel", 0),
    _b("TreatHostAsStableStorage", False),
    _b("ValidateAliasNotCircular", True),
    _b("ValidateShareScope", True),
    _b("ValidateShareScopeNotAliased", True),
    _b("ValidateTargetName", True),
    _b("EnableSMBQUIC", True, 20348),
    _s("EncryptionCiphers", _CIPHERS, 20348),
    _b("DisableCompression", False, 20348),
    _b("RestrictNamedpipeAccessViaQuic", True, 20348),
    _b("AuditClientDoesNotSupportEncryption", False, 26100),
    _b("AuditClientDoesNotSupportSigning", False, 26100),
    _b("AuditInsecureGuestLogon", False, 26100),
    _u("Smb2DialectMin", 0, 26100),
    _u("Smb2DialectMax", 0, 26100),
)


@dataclass(frozen=True)
class _CimClass:
    class_name: str
    key: str
    props: tuple[CimProp, ...]
    confirm_target: str

    def type_names(self) -> list[str]:
        base = "Microsoft.Management.Infrastructure.CimInstance"
        return [f"{base}#{_CIM_NS}/{self.class_name}", f"{base}#{self.class_name}", base, "System.Object"]


CLIENT = _CimClass("MSFT_SmbClientConfiguration", WORKSTATION_KEY, CLIENT_PROPS, "SMB Client Configuration")
SERVER = _CimClass("MSFT_SmbServerConfiguration", SERVER_KEY, SERVER_PROPS, "SMB Service Configuration")


#: EditionIDs of Windows Home and Pro (insecure guest logons allowed by default before 24H2).
_HOME = ("core", "coren", "coresinglelanguage", "corecountryspecific")
_HOME_PRO = (*_HOME, "professional", "professionaln")


def _default(prop: CimProp, build: int, profile: Profile | None = None) -> Any:
    if prop.name == "EnableSMB1Protocol":
        return build < 16299
    if prop.name == "EnableInsecureGuestLogons" and profile is not None:
        # docs/windows-facts.md#insecure-guest-defaults
        edition = profile.edition_id.lower()
        if profile.is_server:
            return build < 17763
        if build >= 26100:
            return edition in _HOME
        return build < 16299 or edition in _HOME_PRO
    return prop.default


def read_prop(ctx: Context, cim: _CimClass, prop: CimProp) -> Any:
    """The property's value from the registry (DWORD / REG_SZ), else its default."""
    stored = ctx.host.registry.get(cim.key, prop.value_name)
    build = ctx.host.profile.build
    if prop.kind == "string":
        if stored is not None and stored.kind in (ValueKind.String, ValueKind.ExpandString):
            return PSString(stored.data)
        return PSString(_default(prop, build))
    if stored is None or stored.kind is not ValueKind.DWord:
        raw = _default(prop, build, ctx.host.profile)
        return bool(raw) if prop.kind == "bool" else PSUInt(raw)
    return stored.data != 0 if prop.kind == "bool" else PSUInt(stored.data)


def cim_instance(ctx: Context, cim: _CimClass) -> PSObject:
    """A CIM-instance-like object (Windows adds PSComputerName; empty for a local session)."""
    obj = PSObject()
    obj.PSObject.type_names = cim.type_names()
    build = ctx.host.profile.build
    for prop in cim.props:
        if build >= prop.min_build:
            obj.PSObject.extended_properties.append(
                PSNoteProperty(prop.name, value=read_prop(ctx, cim, prop))
            )
    obj.PSObject.extended_properties.append(PSNoteProperty("PSComputerName", value=None))
    obj.PSObject.to_string = cim.class_name
    return obj


def _getter(cim: _CimClass) -> Any:
    def run(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
        return [Output(cim_instance(ctx, cim))]

    return run


def _setter(cim: _CimClass) -> Any:
    def run(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
        if wants_confirmation(bound, high_impact=True):
            return [confirm_refused(ctx, f"Performing operation 'Modify' on Target '{cim.confirm_target}'.")]
        if bound.get("WhatIf"):
            return []
        if not ctx.admin:
            record = ctx.error(
                "CimException",
                "Access denied",
                category=ErrorCategory.PermissionDenied,
                error_id="Windows System Error 5",
                target=cim.class_name,
            )
            record.category_info.TargetType = f"{_CIM_NS}/{cim.class_name}"
            return [record]
        build = ctx.host.profile.build
        for prop in cim.props:
            if prop.name not in bound or build < prop.min_build:
                continue
            value = bound[prop.name]
            if prop.kind == "string":
                ctx.host.registry.set(cim.key, prop.value_name, ValueKind.String, str(value))
            else:
                ctx.host.registry.set(cim.key, prop.value_name, ValueKind.DWord, int(value))
        return []

    return run


_CIM_PARAMS = (Param("CimSession", "object"), Param("ThrottleLimit", "object"), Param("AsJob", "switch"))


def _set_params(cim: _CimClass) -> tuple[Param, ...]:
    return (*(Param(p.name, p.kind) for p in cim.props), Param("Force", "switch"), *_CIM_PARAMS)


def _function(name: str, params: tuple[Param, ...], run: Any) -> CmdletDef:
    return CmdletDef(
        name, params, run, command_type=CommandTypes.Function, min_build=9200, should_process=True
    )


SMB_CMDLETS: tuple[CmdletDef, ...] = (
    _function("Get-SmbClientConfiguration", _CIM_PARAMS, _getter(CLIENT)),
    _function("Get-SmbServerConfiguration", _CIM_PARAMS, _getter(SERVER)),
    _function("Set-SmbClientConfiguration", _set_params(CLIENT), _setter(CLIENT)),
    _function("Set-SmbServerConfiguration", _set_params(SERVER), _setter(SERVER)),
)
