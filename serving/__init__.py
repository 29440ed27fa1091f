"""The scoring service: real-time and batch scores with stage and reasons, stage definitions,
the model card, and outcome feedback stored in a SQL database."""
