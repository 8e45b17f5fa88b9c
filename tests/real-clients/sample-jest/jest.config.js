// The real npm buildkite-test-collector jest reporter, pointed at Verdict by
// BUILDKITE_ANALYTICS_BASE_URL. BK_NPM_DIR is where run.sh installed it.
const NM = process.env.BK_NPM_DIR
module.exports = {
  testLocationInResults: true,
  reporters: ['default', [NM + '/buildkite-test-collector/jest/reporter', { tags: { team: 'frontend' } }]],
}
