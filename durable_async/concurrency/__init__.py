"""Map and parallel: the reference SDK's ``concurrency`` package (its models live in ``models``)."""
