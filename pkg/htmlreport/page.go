package htmlreport

// pageHTML is the report's page. Its Content-Security-Policy allows
// nothing but its own inline style: no script, no request of any kind,
// so the file shows the same offline and cannot call home. Each
// participant's section starts a new page when printed.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="callstat {{.Version}}">
<title>callstat report</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 1.5em; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #ccc; padding-bottom: .2em; margin-top: 1.5em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.meta { color: #666; margin: 0 0 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
tr.failed td { background: #fdecea; }
.plots { display: flex; flex-wrap: wrap; gap: 4px 16px; }
figure { margin: 0; }
figcaption { font-weight: 600; font-size: .9em; }
svg.plot { display: block; max-width: 100%; height: auto; }
svg .frame { fill: #fcfcfc; stroke: #bbb; }
svg .grid { stroke: #e4e4e4; }
svg .tick { font: 10px sans-serif; fill: #555; }
svg .nodata { font: 11px sans-serif; fill: #999; }
svg .series { fill: none; stroke-width: 1.2; stroke-linejoin: round; stroke-linecap: round; }
.key { display: inline-block; width: 1.5em; height: 3px; vertical-align: middle; margin: 0 .3em 0 .8em; }
section.participant { break-before: page; }
section.participant:first-of-type { break-before: auto; }
nav ul { margin: .2em 0; }
</style>
</head>
<body>
<header>
<h1>callstat report</h1>
<p class="meta">{{len .Participants}} participant(s) from {{.Store}}, generated {{.Generated}} by callstat {{.Version}}.</p>
<nav><ul>
{{- range .Participants}}
<li><a href="#{{.ID}}">{{.Participant}}</a>: {{len .Calls}} call(s)</li>
{{- end}}
</ul></nav>
<p class="meta">Each plot shows one call over its time (from its start: seconds, or m:ss), a point per stats sample, reduced to the
smallest and largest value of each pixel column so that a short spike stays visible in a long call.
<span class="key" style="background:{{color 0}}"></span>inbound: what this participant receives
<span class="key" style="background:{{color 1}}"></span>outbound: what it sends, as the far end reports it.</p>
</header>
{{range .Participants}}
<section class="participant" id="{{.ID}}">
<h2>{{.Participant}}</h2>
<table class="calls">
<thead><tr><th>#</th><th class="l">call id</th><th class="l">direction</th><th class="l">peer</th><th class="l">start (UTC)</th>
<th>setup ms</th><th>duration</th><th class="l">end</th><th>samples</th><th>sent</th><th>received</th><th>lost</th><th>loss %</th>
<th>jitter p50/p95 ms</th><th>rtt p50/p95 ms</th><th>mos min/mean</th></tr></thead>
<tbody>
{{- range .Calls}}
<tr{{if .Summary.Error}} class="failed"{{end}}><td><a href="#{{.ID}}">{{.N}}</a></td>{{with .Summary}}<td class="l" title="{{.CallID}}">{{short .CallID}}</td>
<td class="l">{{.Direction}}</td><td class="l">{{.Peer}}</td><td class="l">{{time .Start}}</td><td>{{ms .SetupMs}}</td><td>{{secs .DurationMs}}</td>
<td class="l">{{.EndState}} {{if .StatusCode}}{{.StatusCode}}{{end}} {{.Reason}}{{if .Error}} ({{.Error}}){{end}}</td><td>{{.Samples}}</td>
<td>{{count .PacketsSent}}</td><td>{{count .PacketsReceived}}</td><td>{{count .PacketsLost}}</td><td>{{pct .LossPercent}}</td>
<td>{{ms .JitterP50Ms}} / {{ms .JitterP95Ms}}</td><td>{{ms .RTTP50Ms}} / {{ms .RTTP95Ms}}</td><td>{{mos .MOSMin}} / {{mos .MOSMean}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{range .Calls}}
<article class="call" id="{{.ID}}">
<h3>Call {{.N}}: {{.Summary.CallID}}, {{.Summary.Direction}} {{if eq .Summary.Direction "incoming"}}from{{else}}to{{end}} {{.Summary.Peer}}, {{if .Summary.EndState}}{{.Summary.EndState}} {{.Summary.StatusCode}} {{.Summary.Reason}}{{else}}not ended{{end}}</h3>
<div class="plots">
{{- range .Plots}}
<figure><figcaption>{{.Title}}{{if .Unit}} ({{.Unit}}){{end}}</figcaption>{{.SVG}}</figure>
{{- end}}
</div>
</article>
{{- end}}
</section>
{{- end}}
</body>
</html>
`
