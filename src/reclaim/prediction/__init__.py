"""Prediction: the return-risk model, its backtest against baselines, and the inbound-returns
forecast, all trained on the merchant's own history."""
