from lambdad.telemetry import Report, new_stream_name


def test_report_line_as_lambda_writes_it() -> None:
    cold = Report("id-1", duration_ms=1.234, memory_size_mb=128, max_memory_used_mb=37,
                  init_duration_ms=55.5)  # fmt: skip
    assert cold.billed_duration_ms == 57  # the Init phase is billed (since August 2025)
    assert cold.line() == (
        "REPORT RequestId: id-1\tDuration: 1.23 ms\tBilled Duration: 57 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 37 MB\tInit Duration: 55.50 ms\t"
    )
    warm = Report("id-2", duration_ms=0.2, memory_size_mb=1024, max_memory_used_mb=40)
    assert warm.billed_duration_ms == 1  # never less than 1 ms
    assert "Init Duration" not in warm.line()
    assert warm.gb_seconds == 1 * 1 / 1000


def test_stream_names() -> None:
    name = new_stream_name("$LATEST", now=0)
    assert name.startswith("1970/01/01/[$LATEST]") and len(name.split("]")[1]) == 32


def test_a_restored_environment_reports_its_restore_instead_of_init() -> None:
    first = Report("id-3", duration_ms=2.0, memory_size_mb=128, max_memory_used_mb=20,
                   restore_duration_ms=12.345)  # fmt: skip
    assert first.line().endswith(
        "Max Memory Used: 20 MB\tRestore Duration: 12.35 ms\tBilled Restore Duration: 13 ms\t"
    )
    assert "Init Duration" not in first.line()
    # Billed: the restore's part AWS bills (the runtime's, after the fork), in the
    # Billed Duration too, as AWS's REPORT lines add them (36.97 ms + 136 ms -> 173 ms).
    assert first.billed_duration_ms == 2 + 13
    billed = Report("id-4", duration_ms=36.97, memory_size_mb=128, max_memory_used_mb=68,
                    restore_duration_ms=511.56, restore_billed_ms=135.2)  # fmt: skip
    assert billed.line() == (
        "REPORT RequestId: id-4\tDuration: 36.97 ms\tBilled Duration: 173 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 68 MB\tRestore Duration: 511.56 ms\t"
        "Billed Restore Duration: 136 ms\t"
    )
    assert billed.gb_seconds == 128 / 1024 * 173 / 1000
