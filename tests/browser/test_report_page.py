"""``psfleet report --html`` opened in a real headless chromium: the page loads without a
console error, shows the fleet's counts, the host filter narrows the table, sorting works, and
a screenshot is kept (the test's tmp dir: report.png)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.store.writers import audit_document
from tests.support.cli import run_cli
from toolkit.store import open_store, record_run


def _fleet_history(db: Path) -> None:
    """Ten daily audits of 40 hosts in two groups: drift shrinking, one host down at the end."""
    start = datetime.now(UTC) - timedelta(days=10)
    groups = {f"host-{i:04d}": (["hq"] if i < 20 else ["branch"]) for i in range(40)}
    with open_store(str(db)) as store:
        for day in range(10):
            drifted = {f"host-{i:04d}" for i in range(20, 30 - day)}
            down = {"host-0039"} if day == 9 else set()
            doc = audit_document(40, started=start + timedelta(days=day), drifted=drifted, down=down)
            record_run(store, doc, kind="audit", groups=groups)


def test_report_in_headless_chromium(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    db = tmp_path / "psfleet.db"
    monkeypatch.setenv("PSFLEET_DB", str(db))
    _fleet_history(db)
    page = tmp_path / "report.html"
    code, _, err = run_cli(["report", "--html", str(page)], capsys)
    assert code == 0, err

    browser.get(page.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    count = {
        k: browser.find_element(By.ID, f"count-{k}").text
        for k in ("hosts", "compliant", "drift", "unassessed")
    }
    assert count == {"hosts": "40", "compliant": "38", "drift": "1", "unassessed": "1"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trend g.series")) == 3  # one line per check

    def visible_rows() -> list[Any]:
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "#hosts tbody tr") if r.is_displayed()]

    assert len(visible_rows()) == 40
    browser.find_element(By.ID, "host-filter").send_keys("host-002")
    assert [r.find_element(By.TAG_NAME, "td").text for r in visible_rows()] == [
        f"host-{i:04d}" for i in range(20, 30)
    ]
    assert browser.find_element(By.ID, "shown-count").text == "10"
    browser.find_element(By.ID, "host-filter").clear()
    browser.execute_script("document.getElementById('host-filter').dispatchEvent(new Event('input'))")
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("drift")
    assert [r.find_element(By.TAG_NAME, "td").text for r in visible_rows()] == ["host-0020"]
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("")
    header = browser.find_element(By.CSS_SELECTOR, "#hosts thead th button")
    header.click()
    header.click()  # descending
    assert visible_rows()[0].find_element(By.TAG_NAME, "td").text == "host-0039"
    assert browser.find_elements(By.CSS_SELECTOR, "#hosts a[href$='#signing-client-value']")

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
