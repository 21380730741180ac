"""Recurring billing: the schedule's calendar rules and the clock they run on."""
