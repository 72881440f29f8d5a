# docker-compose.yml validates without a Docker engine (tests/integration/test_compose.py):
# `docker-compose config` (Debian's 1.29, installed by scripts/deps.sh) and every flag of
# every service's command checked against the binaries' --help.
add_test(NAME compose_config
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_compose.py)
set_tests_properties(compose_config PROPERTIES LABELS integration TIMEOUT 120
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
