"""The fine-tune process and its launcher; runs without the app and never opens the database."""
