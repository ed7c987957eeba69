from airflow_hpt.demo.run import main

raise SystemExit(main())
