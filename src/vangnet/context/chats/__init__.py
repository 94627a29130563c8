"""Chat indicators of paid live-streamed abuse (issue 14, point 3): a transparent lexicon in
English, Dutch, Tagalog and Cebuano (`lexicon`), behavioural features of a conversation
(`features`), a conversation score from both with weights as data (`scoring`), a trainable
classifier persisted as JSON (`classifier`), its evaluation (`evaluation`), labelled and
plain chat files (`files`) and the `ChatsEvaluator` that turns conversations into reasons
(`evaluator`). See docs/context-chats.md.
"""
