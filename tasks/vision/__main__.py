from tasks.vision.cli import main

raise SystemExit(main())
