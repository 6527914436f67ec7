"""The virtualenvs: where they live and what they record, which Python each gets, the build's inputs as they are
on disk, and the kept wheels of the servers that compile."""
