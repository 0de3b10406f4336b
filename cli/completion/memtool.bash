# bash completion for memtool: commands, each command's options (read from
# `memtool help COMMAND`, so it follows the binary), pids and core files.
_memtool()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$(memtool help 2>/dev/null |
			awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }') --version -h" -- "$cur"))
		return
	fi
	case $prev in
	--pid) COMPREPLY=($(compgen -W "$(ls /proc | grep -E '^[0-9]+$')" -- "$cur")); return ;;
	--core|--serve) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--interval|--count) return ;;
	esac
	if [ "$cmd" = help ]; then
		COMPREPLY=($(compgen -W "$(memtool help 2>/dev/null |
			awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -W "$(memtool help "$cmd" 2>/dev/null | sed -n 's/^usage: //p' |
		grep -oE -- '--?[a-z][a-z-]*' | sort -u) -h" -- "$cur"))
}
complete -F _memtool memtool
