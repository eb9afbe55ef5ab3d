from specgate.fuzz.run import main

raise SystemExit(main())
