"""The workflow engine: workflow definitions, expressions, and durable execution."""
