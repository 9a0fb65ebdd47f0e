"""One module per durable operation; each runs an operation for a DurableContext."""
