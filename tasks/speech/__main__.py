from tasks.speech.cli import main

raise SystemExit(main())
