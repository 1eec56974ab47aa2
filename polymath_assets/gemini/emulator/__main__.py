from polymath_assets.gemini.emulator import main

main()
