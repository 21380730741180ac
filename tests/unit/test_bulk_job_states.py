"""The emulator's Bulk API 2.0 job state machine and its rolling daily record allocation."""

from __future__ import annotations

import pytest

from connectors.salesforce.emulator.bulk_jobs import (
    MAX_UPLOAD_BYTES,
    BulkJob,
    DailyRecords,
    JobStateError,
    result_error,
)


def job() -> BulkJob:
    return BulkJob(object="Payment__c", external_id_field="PaymentID__c")


def test_the_happy_path_open_upload_close_progress_complete() -> None:
    j = job()
    assert j.state == "Open" and j.info("v62.0")["state"] == "Open"
    j.upload(b"PaymentID__c\n1\n")
    j.change_state("UploadComplete")
    assert j.state == "UploadComplete"
    assert j.start() and j.state == "InProgress"
    j.finish()
    assert j.state == "JobComplete"
    j.results_allowed("failedResults")  # allowed once complete


def test_one_upload_per_job_and_none_after_closing() -> None:
    j = job()
    j.upload(b"a\n1\n")
    with pytest.raises(JobStateError, match="multiple contents"):
        j.upload(b"a\n2\n")
    j.change_state("UploadComplete")
    with pytest.raises(JobStateError) as refused:
        j.upload(b"a\n3\n")
    assert refused.value.code == "INVALIDJOBSTATE"


def test_an_upload_over_150_mb_is_refused() -> None:
    with pytest.raises(JobStateError, match="150 MB"):
        job().upload(b"x" * (MAX_UPLOAD_BYTES + 1))


def test_closing_without_data_fails_the_job() -> None:
    j = job()
    j.change_state("UploadComplete")
    assert j.state == "Failed" and "No data" in j.info("v62.0")["errorMessage"]
    assert not j.start()


def test_abort_until_terminal_then_no_more_changes() -> None:
    j = job()
    j.upload(b"a\n1\n")
    j.change_state("UploadComplete")
    j.change_state("Aborted")
    assert not j.start()  # the processor leaves an aborted job alone
    with pytest.raises(JobStateError):
        j.change_state("Aborted")
    with pytest.raises(JobStateError):
        j.change_state("UploadComplete")
    j.results_allowed("unprocessedrecords")
    with pytest.raises(JobStateError):
        j.results_allowed("successfulResults")


@pytest.mark.parametrize("state", ["JobComplete", "InProgress", "Open", "Failed"])
def test_only_closing_and_aborting_can_be_asked_for(state: str) -> None:
    with pytest.raises(JobStateError):
        job().change_state(state)


def test_results_wait_for_the_end() -> None:
    j = job()
    with pytest.raises(JobStateError, match="no failedResults yet"):
        j.results_allowed("failedResults")


def test_the_daily_allocation_grants_what_is_left_and_rolls_after_24_hours() -> None:
    daily = DailyRecords(limit=10)
    assert daily.take(7, now=0.0) == 7
    assert daily.take(7, now=10.0) == 3
    assert daily.take(1, now=20.0) == 0
    assert daily.used(86_401.0) == 3  # the first 7 left the window
    assert daily.take(9, now=86_405.0) == 7  # the 3 of t=10 still count


def test_failed_rows_name_code_message_and_fields() -> None:
    assert result_error("X", "bad", ["A", "B"]) == "X:bad:A,B --"
