"""Prediction: the inbound-returns forecast per facility, learnt from its own history and
backtested against the seasonal-naive forecast."""
