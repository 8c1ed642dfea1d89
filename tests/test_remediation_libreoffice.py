"""The remediation xlsx opens in LibreOffice (skipped when LibreOffice is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.clock import parse_quarter
from monitoring.cases.quarterly_xlsx import workbook
from monitoring.reports.remediation import PUBLIC_COLUMNS

pytestmark = pytest.mark.skipif(shutil.which("libreoffice") is None, reason="LibreOffice not installed")


def test_libreoffice_converts_the_list_to_pdf(tmp_path: Path) -> None:
    row = dict.fromkeys(PUBLIC_COLUMNS, 0) | {
        "asset_type": "area", "asset_id": "0520111000123", "name": "花溪青岩村1号台区",
        "county": "花溪区", "prefecture": "贵阳市", "county_adcode": "520111",
        "prefecture_adcode": "520100", "tags": ["weak_supply_village"], "status": "frequent",
        "frequent_in_quarter": True, "case_id": 1, "case_status": "open", "measures": None,
        "responsible_unit": None, "due_date": date(2026, 9, 30), "completion_date": None,
        "sign_off_date": None}
    xlsx = tmp_path / "remediation-2026Q2.xlsx"
    xlsx.write_bytes(workbook(rows=[row], columns=PUBLIC_COLUMNS, period=parse_quarter("2026Q2"),
                              produced=datetime(2026, 7, 3, tzinfo=UTC), public=True))
    subprocess.run(["libreoffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(xlsx)],
                   check=True, timeout=240, capture_output=True)
    pdf = tmp_path / "remediation-2026Q2.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "整治清单" in text and "0520111000123" in text
