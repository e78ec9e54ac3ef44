#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Part of shadowreg: playbooks/use-shadowreg.yaml.

DOCUMENTATION = r'''
---
module: shadowreg_registries_conf
short_description: Put a registry first in the mirror lists of containers' registries.conf
description:
  - Reads an existing registries.conf (version 2 format), keeps everything in it,
    and for each given namespace makes sure there is a C([[registry]]) entry whose
    first C([[registry.mirror]]) is the given mirror location and whose second is
    the real upstream, the way zuul-jobs' use-buildset-registry does it. Mirrors
    that point at the same registry host (an older buildset's path, say) are
    replaced; other mirrors are kept after those two.
  - Writes the file only when its content changes (check and diff mode work).
  - Reading an existing file needs Python's tomllib (3.11+), or the tomli or toml
    package; writing needs nothing.
options:
  path:
    description: The registries.conf to edit (created when missing).
    required: true
    type: path
  registry:
    description: The registry's host:port; mirrors under it are ours.
    required: true
    type: str
  entries:
    description: >
      A list of {prefix, location, mirror, insecure}: the namespace (prefix),
      the real upstream location, and our mirror location.
    required: true
    type: list
    elements: dict
  unqualified_search_registries:
    description: Set unqualified-search-registries to this list when given.
    type: list
    elements: str
  mode:
    description: File mode of a new file.
    type: str
    default: '0644'
'''

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')


def load_toml(text):
    try:
        import tomllib
        return tomllib.loads(text)
    except ImportError:
        pass
    try:
        import tomli
        return tomli.loads(text)
    except ImportError:
        pass
    import toml  # raises ImportError, reported by the caller
    return toml.loads(text)


def toml_key(k):
    return k if BARE_KEY.match(k) else toml_str(k)


def toml_str(s):
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\t':
            out.append('\\t')
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def toml_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, (list, tuple)):
        return '[' + ', '.join(toml_value(x) for x in v) + ']'
    if isinstance(v, dict):
        return '{' + ', '.join('%s = %s' % (toml_key(k), toml_value(x)) for k, x in v.items()) + '}'
    if hasattr(v, 'isoformat'):
        return v.isoformat()
    raise ValueError('cannot write %r as TOML' % (v,))


def is_table_array(v):
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def dump_table(d, path, out):
    """Writes a table: its plain keys, then sub-tables, then arrays of tables."""
    plain = [(k, v) for k, v in d.items() if not isinstance(v, dict) and not is_table_array(v)]
    tables = [(k, v) for k, v in d.items() if isinstance(v, dict)]
    arrays = [(k, v) for k, v in d.items() if is_table_array(v)]
    for k, v in plain:
        out.append('%s = %s' % (toml_key(k), toml_value(v)))
    for k, v in tables:
        p = path + [toml_key(k)]
        out.append('')
        out.append('[%s]' % '.'.join(p))
        dump_table(v, p, out)
    for k, v in arrays:
        p = path + [toml_key(k)]
        for item in v:
            out.append('')
            out.append('[[%s]]' % '.'.join(p))
            dump_table(item, p, out)


def dump_toml(d):
    out = []
    dump_table(d, [], out)
    while out and out[0] == '':
        out.pop(0)
    return '\n'.join(out) + '\n'


def ours(location, registry):
    return location == registry or location.startswith(registry + '/')


def merge(data, registry, entries, search):
    if 'registries' in data:
        raise ValueError('the file is in the version 1 format ([registries.search]); '
                         'convert it to version 2 ([[registry]] tables) first')
    if search is not None:
        data['unqualified-search-registries'] = list(search)
    regs = data.setdefault('registry', [])
    for e in entries:
        prefix, upstream, mirror = e['prefix'], e['location'], e['mirror']
        entry = None
        for r in regs:
            if r.get('prefix') == prefix or (not r.get('prefix') and r.get('location') == prefix):
                entry = r
                break
        if entry is None:
            entry = {'prefix': prefix, 'location': upstream}
            regs.append(entry)
        old = entry.get('mirror', [])
        mine = {'location': mirror}
        if e.get('insecure'):
            mine['insecure'] = True
        kept = [m for m in old if not ours(m.get('location', ''), registry)]
        up = [m for m in kept if m.get('location') == upstream] or [{'location': upstream}]
        rest = [m for m in kept if m.get('location') != upstream]
        entry['mirror'] = [mine] + up[:1] + rest
    return data


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            registry=dict(type='str', required=True),
            entries=dict(type='list', elements='dict', required=True),
            unqualified_search_registries=dict(type='list', elements='str'),
            mode=dict(type='str', default='0644'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = p['path']
    before = ''
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            before = f.read()
    data = {}
    if before.strip():
        try:
            data = load_toml(before)
        except ImportError:
            module.fail_json(msg='%s exists: reading it needs Python 3.11 (tomllib) or the tomli or toml '
                                 'package on the node' % path)
        except Exception as exc:  # the parsers raise their own error types
            module.fail_json(msg='%s: not valid TOML: %s' % (path, exc))
    for e in p['entries']:
        for k in ('prefix', 'location', 'mirror'):
            if not e.get(k):
                module.fail_json(msg='entries: every entry needs prefix, location and mirror: %r' % (e,))
    try:
        data = merge(data, p['registry'], p['entries'], p['unqualified_search_registries'])
        after = dump_toml(data)
    except ValueError as exc:
        module.fail_json(msg='%s: %s' % (path, exc))

    changed = after != before
    result = dict(changed=changed, path=path, config=data)
    if module._diff:
        result['diff'] = dict(before=before, after=after, before_header=path, after_header=path)
    if changed and not module.check_mode:
        d = os.path.dirname(path) or '.'
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        mode = int(p['mode'], 8)
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(dir=d, prefix='.registries.conf.')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(after)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.rename(tmp, path)
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    module.exit_json(**result)


if __name__ == '__main__':
    main()
