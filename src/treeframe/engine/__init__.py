"""Agent workflows over a workspace's store: the context API, synthesis, regeneration, composition."""
