// core/targets.ts: target selection by name, compose service, label and auto-detection.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { matchTarget, type TargetSelector } from '../../src/core/targets.js'

const defaults: TargetSelector = {
  names: [],
  composeServices: [],
  label: 'netbird-watchdog.enable=true',
  autoDetect: true,
}

const cases: Array<
  [string, string, Record<string, string>, Partial<TargetSelector>, string | undefined]
> = [
  ['quickstart v0.62', 'netbird-management', {}, {}, 'auto-detect'],
  ['combined v0.65', 'netbird-server', {}, {}, 'auto-detect'],
  ['compose v2 name', 'infrastructure_files-management-1', {}, {}, 'auto-detect'],
  ['compose v1 name', 'netbird-docker_management_1', {}, {}, 'auto-detect'],
  ['leading slash', '/netbird-management', {}, {}, 'auto-detect'],
  ['dashboard is not', 'netbird-dashboard', {}, {}, undefined],
  ['signal is not', 'netbird-signal', {}, {}, undefined],
  ['management-ui is not', 'x-management-ui-1', {}, {}, undefined],
  ['auto-detect off', 'netbird-management', {}, { autoDetect: false }, undefined],
  ['opt-out label', 'netbird-management', { 'netbird-watchdog.enable': 'false' }, {}, undefined],
  ['label', 'anything', { 'netbird-watchdog.enable': 'true' }, { autoDetect: false }, 'label'],
  ['label other value', 'anything', { 'netbird-watchdog.enable': 'yes' }, {}, undefined],
  ['label key only', 'anything', { watched: '' }, { label: 'watched' }, 'label'],
  ['name', 'mgmt', {}, { names: ['mgmt'], autoDetect: false }, 'name'],
  [
    'compose service',
    'p-api-1',
    { 'com.docker.compose.service': 'management' },
    { composeServices: ['management'] },
    'compose-service',
  ],
  [
    'other compose service',
    'p-dashboard-1',
    { 'com.docker.compose.service': 'dashboard' },
    { composeServices: ['management'] },
    undefined,
  ],
]

for (const [what, name, labels, selector, expected] of cases) {
  test(`target selection: ${what}`, () => {
    assert.equal(matchTarget({ name, labels }, { ...defaults, ...selector }), expected)
  })
}
