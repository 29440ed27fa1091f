"""Turning a CRM export into model inputs: dataset specs, loading and cleaning, validation,
point-in-time features and the one fitted transform shared by training and serving.

This package knows nothing of training, serving or the command line."""
