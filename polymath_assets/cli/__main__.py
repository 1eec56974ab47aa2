from polymath_assets.cli import main

main()
