"""frontdesk's knowledge base: articles (kb.articles), search and the answer rule (kb.search), the index
cache (kb.index) and the `kb` command line (kb.cli). kb.semantic is the optional embedding ranker."""
