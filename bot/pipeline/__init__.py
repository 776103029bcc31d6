"""Channel-neutral pipeline: InboundMessage in, Outcome out."""
