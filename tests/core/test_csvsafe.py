"""Formula injection: every dangerous leading character is neutralised, in CSV and Excel."""

import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from ccr.core.csvsafe import dataframe_to_csv, dataframe_to_xlsx, neutralize_cell, rows_to_csv

PAYLOADS = [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("Bonjour", "Bonjour"),
    ("", ""),
    ("a=b", "a=b"),
]


@pytest.mark.parametrize(("raw", "expected"), PAYLOADS)
def test_neutralize_cell(raw, expected):
    assert neutralize_cell(raw) == expected


def test_numbers_are_left_as_numbers():
    assert neutralize_cell(-3) == -3
    assert neutralize_cell(2.5) == 2.5


def test_csv_export_neutralises_every_payload():
    df = pd.DataFrame({"texte": [p for p, _ in PAYLOADS], "score": range(len(PAYLOADS))})
    back = pd.read_csv(io.BytesIO(dataframe_to_csv(df)), sep=";", encoding="utf-8-sig", keep_default_na=False)
    assert list(back["texte"]) == [e for _, e in PAYLOADS]
    assert list(back["score"]) == list(range(len(PAYLOADS)))


def test_xlsx_export_neutralises_every_payload():
    df = pd.DataFrame({"texte": [p for p, _ in PAYLOADS]})
    ws = load_workbook(io.BytesIO(dataframe_to_xlsx(df))).active
    values = [(row[0].value or "").replace("\r", "\n") for row in ws.iter_rows(min_row=2)]
    # openpyxl stores a carriage return as a line feed; the neutralising apostrophe is what matters.
    assert values == [e.replace("\r", "\n") for _, e in PAYLOADS]
    assert all(row[0].data_type != "f" for row in ws.iter_rows(min_row=2))


def test_rows_to_csv_neutralises_dict_rows():
    data = rows_to_csv([{"agent": "=cmd|' /C calc'!A0", "n": 1}], ["agent", "n"]).decode("utf-8-sig")
    assert "'=cmd" in data.splitlines()[1]
