from __future__ import annotations

import threading

from pipelines.resources import WarehouseResource


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path):
    warehouse = WarehouseResource(
        warehouse_path=str(tmp_path / "w.duckdb"), serving_path=str(tmp_path / "s.duckdb")
    )
    order: list[str] = []
    second_entered = threading.Event()

    def second_writer() -> None:
        with warehouse.writer() as con:
            order.append("second")
            con.execute("SELECT 1")
        second_entered.set()

    with warehouse.writer():
        order.append("first")
        thread = threading.Thread(target=second_writer)
        thread.start()
        # The second writer is blocked on the lock file for as long as the first holds it.
        assert not second_entered.wait(timeout=1)
        order.append("first done")
    thread.join(timeout=30)
    assert order == ["first", "first done", "second"]
