"""Spreadsheet-safe tabular exports: CSV and Excel cells neutralised against formula injection.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by spreadsheet programs (OWASP "CSV injection"); such text is
prefixed with an apostrophe. Numbers stay numbers: only strings are touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: Any) -> Any:
    """Return ``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_dataframe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are neutralised."""
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralize_cell)
    out.columns = [neutralize_cell(str(c)) for c in out.columns]
    return out


def dataframe_to_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so Excel reads the accents) of a neutralised copy of ``df``."""
    # Quoting every text cell keeps embedded tabs and carriage returns inside their cell.
    return safe_dataframe(df).to_csv(index=False, sep=";", quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig")


def dataframe_to_xlsx(df: pd.DataFrame, sheet_name: str = "Export") -> bytes:
    """An Excel workbook of a neutralised copy of ``df``."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        safe_dataframe(df).to_excel(writer, index=False, sheet_name=sheet_name[:31])
    return buf.getvalue()


def rows_to_csv(rows: Iterable[Mapping[str, Any]], fieldnames: list[str]) -> bytes:
    """UTF-8 CSV of dict rows, every cell neutralised (for streaming exports without pandas)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore", delimiter=";",
                            quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralize_cell(row.get(k)) for k in fieldnames})
    return buf.getvalue().encode("utf-8-sig")
