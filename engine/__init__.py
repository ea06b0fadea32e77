"""scriba's engine: a tokenizer-free byte-level hierarchical state-space language model."""
