// Reading a YAML file (the watchdog's config, NetBird's config.yaml) into plain values, with problems
// reported by position and kind only: the yaml library's messages can quote the text around an error
// (a token, a tag, an alias name), and that text can be a secret. Aliases are capped, so a YAML alias
// bomb is an error, not an exhausted process.
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import { WatchdogError } from '../errors.js'

/** More aliases than any real config uses; the library's guard against alias bombs fires above it. */
const maxAliasCount = 50

export function parseYaml(text: string, source: string): unknown {
  // Without prettyErrors the library sets no line positions: a LineCounter gives them.
  const lines = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `invalid YAML in ${source}:\n${doc.errors.map((e) => `  ${describe(e, lines)}`).join('\n')}`,
    )
  }
  try {
    return doc.toJS({ maxAliasCount })
  } catch {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `invalid YAML in ${source}: an alias (*name) that is not defined, or more aliases than a configuration needs (${maxAliasCount})`,
    )
  }
}

const kinds: Readonly<Record<string, string>> = {
  ALIAS_PROPS: 'an alias with properties',
  BAD_ALIAS: 'a malformed alias',
  BAD_DIRECTIVE: 'a malformed directive',
  BAD_DQ_ESCAPE: 'a bad escape in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'properties in the wrong order',
  BAD_SCALAR_START: 'a value that cannot start with that character',
  BLOCK_AS_IMPLICIT_KEY: 'a block used as a key',
  BLOCK_IN_FLOW: 'a block inside a flow collection',
  DUPLICATE_KEY: 'a duplicate key',
  IMPOSSIBLE: 'an impossible construct',
  KEY_OVER_1024_CHARS: 'a key over 1024 characters',
  MISSING_CHAR: 'a missing closing character (quote, bracket or brace)',
  MULTILINE_IMPLICIT_KEY: 'a key spanning lines',
  MULTIPLE_ANCHORS: 'several anchors on one node',
  MULTIPLE_DOCS: 'more than one document',
  MULTIPLE_TAGS: 'several tags on one node',
  TAB_AS_INDENT: 'a tab used for indentation',
  TAG_RESOLVE_FAILED: 'an unknown tag',
  UNEXPECTED_TOKEN: 'unexpected text',
}

function describe(e: YAMLError, lines: LineCounter): string {
  const at = e.linePos?.[0] ?? lines.linePos(e.pos[0])
  const where = at !== undefined ? ` at line ${at.line}, column ${at.col}` : ''
  return `${kinds[e.code] ?? e.code.toLowerCase().replace(/_/g, ' ')}${where}`
}
