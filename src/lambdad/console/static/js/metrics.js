// Reading CloudWatch metrics (namespace AWS/Lambda) with GetMetricData over
// CloudWatch's JSON 1.0 protocol, as the SDKs can.

const TARGET = "GraniteServiceVersion20100801.GetMetricData";
const MAX_QUERIES = 500;

/** A period that keeps a window under ~360 points, a multiple of 60 s. */
export function periodFor(windowMs) {
  const seconds = windowMs / 1000;
  for (const period of [60, 300, 900, 3600, 21600, 86400]) {
    if (seconds / period <= 360) return period;
  }
  return 86400;
}

/**
 * queries: [{ id, metric, stat, dimensions: {Name: Value}, label }]
 * → Map id → [{ t: epochMs, v }] over [start, end) in `period`-second buckets.
 */
export async function getMetricData(api, queries, start, end, period) {
  const results = new Map();
  for (let i = 0; i < queries.length; i += MAX_QUERIES) {
    const chunk = queries.slice(i, i + MAX_QUERIES);
    let token;
    for (let page = 0; page < 20; page++) {
      const body = {
        MetricDataQueries: chunk.map((q) => ({
          Id: q.id,
          Label: q.label || q.metric,
          ReturnData: true,
          MetricStat: {
            Metric: {
              Namespace: "AWS/Lambda",
              MetricName: q.metric,
              Dimensions: Object.entries(q.dimensions || {}).map(([Name, Value]) => ({ Name, Value })),
            },
            Period: period,
            Stat: q.stat,
          },
        })),
        StartTime: Math.floor(start / 1000),
        EndTime: Math.ceil(end / 1000),
        ScanBy: "TimestampAscending",
        ...(token ? { NextToken: token } : {}),
      };
      const answer = await api.rpc("monitoring", TARGET, body, "1.0");
      for (const result of answer.MetricDataResults || []) {
        const points = results.get(result.Id) || [];
        (result.Timestamps || []).forEach((t, index) => {
          const ms = typeof t === "number" ? t * 1000 : Date.parse(t);
          points.push({ t: ms, v: result.Values[index] });
        });
        results.set(result.Id, points);
      }
      token = answer.NextToken;
      if (!token) break;
    }
  }
  return results;
}

/** A Sum series with the empty periods as zeros (CloudWatch leaves them out). */
export function zeroFilled(points, start, end, period) {
  const step = period * 1000;
  const byTime = new Map(points.map((p) => [Math.floor(p.t / step) * step, p.v]));
  const filled = [];
  for (let t = Math.floor(start / step) * step; t < end; t += step) filled.push({ t, v: byTime.get(t) ?? 0 });
  return filled;
}

/**
 * Whether an error says the server does not speak an API at all (an older server,
 * or one without that part): an unknown operation, or a signature scoped to a
 * service it does not answer for.
 */
export function metricsMissing(error) {
  if (!error) return false;
  if (error.name === "UnknownOperationException" || error.status === 404) return true;
  return error.name === "InvalidSignatureException" && /scoped to correct service/.test(error.message);
}
