# Sourced by the scripts that create virtual environments. find_python X.Y prints the path of a Python X.Y
# interpreter that really starts, or nothing. A pyenv shim may exist for a version it cannot run, so the pyenv
# versions are tried first, then pythonX.Y on PATH.
find_python() {
    local version=$1 candidate
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python "$(command -v "python$version")"; do
        if [ -x "$candidate" ] && "$candidate" -c "" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
}
