"""The parts of :mod:`durable_async.testing`: results, name paths, step mocks, replay, cloud."""
