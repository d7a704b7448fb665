from openchargeback.cli.app import main

main()
