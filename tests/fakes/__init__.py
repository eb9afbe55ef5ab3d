"""Real HTTP servers on 127.0.0.1 that impersonate upstream LLM providers, for tests."""
