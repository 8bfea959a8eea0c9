"""The quick-start pipeline: ExtractRaw -> Transform -> Load, with pandas.

ExtractRaw writes a day of (synthetic) raw orders as CSV, Transform cleans them and computes
revenue per product, Load appends the result to a SQLite warehouse table and marks the load
with a SQLAlchemyTarget so it is never loaded twice. ``DailyRevenue`` asks for a range of days.

Run it with ``make demo`` or::

    dagcore run --module examples.etl DailyRevenue --days 3 --workers 2
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
from pathlib import Path
from typing import Any

import pandas as pd

import dagcore
from dagcore.contrib.pandas import read_csv, write_csv
from dagcore.contrib.sqla import SQLAlchemyTarget

DATA_DIR = Path(os.environ.get("DAGCORE_EXAMPLE_DATA", "data"))
PRODUCTS = ("anvil", "rocket", "magnet", "spring", "tnt")
WAREHOUSE_DDL = (
    "CREATE TABLE IF NOT EXISTS daily_revenue "
    "(product TEXT, orders BIGINT, revenue FLOAT, date TEXT)"
)


def warehouse_url() -> str:
    """The example warehouse: a SQLite file next to the data."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DATA_DIR / 'warehouse.db').resolve()}"


class ExtractRaw(dagcore.Task):
    """One day of raw orders, as an upstream system would drop them (some rows are bad)."""

    date = dagcore.DateParameter()
    rows = dagcore.IntParameter(default=500)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(str(DATA_DIR / "raw" / f"orders-{self.date}.csv"))

    def run(self) -> None:
        rng = random.Random(self.date.toordinal())
        records = [
            {
                "order_id": f"{self.date:%Y%m%d}-{i:05d}",
                "product": rng.choice(PRODUCTS),
                "quantity": rng.choice([1, 1, 2, 3, 5, -1]),  # -1: a bad row to clean out
                "unit_price": round(rng.uniform(2.0, 90.0), 2),
            }
            for i in range(self.rows)
        ]
        write_csv(pd.DataFrame.from_records(records), self.output(), index=False)


class Transform(dagcore.Task):
    """Drop bad rows and compute revenue per product."""

    date = dagcore.DateParameter()

    def requires(self) -> ExtractRaw:
        return ExtractRaw(date=self.date)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(str(DATA_DIR / "clean" / f"revenue-{self.date}.csv"))

    def run(self) -> None:
        orders = read_csv(self.input())
        orders = orders[orders["quantity"] > 0]
        orders = orders.assign(revenue=orders["quantity"] * orders["unit_price"])
        daily = (
            orders.groupby("product", as_index=False)
            .agg(orders=("order_id", "count"), revenue=("revenue", "sum"))
            .assign(date=self.date.isoformat())
        )
        daily["revenue"] = daily["revenue"].round(2)
        write_csv(daily, self.output(), index=False)


class Load(dagcore.Task):
    """Append a day to the warehouse table ``daily_revenue``, exactly once."""

    date = dagcore.DateParameter()

    def requires(self) -> Transform:
        return Transform(date=self.date)

    def output(self) -> SQLAlchemyTarget:
        return SQLAlchemyTarget(warehouse_url(), "daily_revenue", f"load-{self.date}")

    def run(self) -> None:
        target = self.output()
        daily = read_csv(self.input())
        with target.engine.begin() as connection:
            # Several Loads run at once: create the table idempotently, never through to_sql,
            # whose check-then-create loses the race to a sibling process.
            connection.exec_driver_sql(WAREHOUSE_DDL)
            daily.to_sql("daily_revenue", connection, if_exists="append", index=False)
        target.touch()


class DailyRevenue(dagcore.WrapperTask):
    """Load the ``days`` days up to ``end`` (inclusive)."""

    end = dagcore.DateParameter(default=dt.date(2024, 1, 31))
    days = dagcore.IntParameter(default=3)

    def requires(self) -> Any:
        return [Load(date=self.end - dt.timedelta(days=i)) for i in range(self.days)]


def main() -> int:
    """``make demo``: run the pipeline on the embedded executor and say where things went."""
    summary = dagcore.build(
        [DailyRevenue(days=7)], workers=2, detailed_summary=True, log_level="WARNING"
    )
    print(summary.summary_text)
    print(f"Outputs:   {DATA_DIR.resolve()}/raw, {DATA_DIR.resolve()}/clean")
    print(f"Warehouse: {warehouse_url()} (table daily_revenue)")
    history_url = dagcore.configuration.settings.HistorySettings.from_config().url
    print(f"History:   {history_url}  (try: .venv/bin/dagcore history)")
    return 0 if summary.exit_code == 0 else summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
