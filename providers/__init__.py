"""Provider adapters: one small interface (``providers.base``), an explicit registry built at
start-up (``providers.registry``), and one module or package per provider type."""
