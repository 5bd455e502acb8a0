from tcpconform.cli import main

raise SystemExit(main())
