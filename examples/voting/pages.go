package main

import "html/template"

// The two options, as in the classic Docker voting app.
const (
	optionA = "Cats"
	optionB = "Dogs"
)

const style = `<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-weight:600}
form{display:flex;gap:1rem}
button{flex:1;font-size:1.5rem;padding:1.5rem;border:2px solid #2a6;border-radius:.5rem;background:#fff;cursor:pointer}
button.chosen{background:#2a6;color:#fff}
.bar{height:2.2rem;margin:.3rem 0 1rem;background:#eee;border-radius:.3rem;overflow:hidden}
.bar div{height:100%;background:#2a6;transition:width .5s}
#b .bar div{background:#36c}
.muted{color:#777}
</style>`

var votePage = template.Must(template.New("vote").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.A}} or {{.B}}?</title>` + style + `</head>
<body>
<h1>{{.A}} or {{.B}}?</h1>
<form method="post" action="/vote">
  <button name="vote" value="a"{{if eq .Current "a"}} class="chosen"{{end}}>{{.A}}</button>
  <button name="vote" value="b"{{if eq .Current "b"}} class="chosen"{{end}}>{{.B}}</button>
</form>
<p class="muted">{{if eq .Current "a"}}You voted for {{.A}}. Vote again to change it.{{else if eq .Current "b"}}You voted for {{.B}}. Vote again to change it.{{else}}One vote per browser; you can change it later.{{end}}</p>
<p><a href="/result">See the results</a></p>
</body></html>
`))

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Results</title>` + style + `</head>
<body>
<h1>{{.A}} or {{.B}}: results</h1>
<div id="a"><span>{{.A}}</span> <b class="n">0</b> <span class="pct"></span><div class="bar"><div style="width:0"></div></div></div>
<div id="b"><span>{{.B}}</span> <b class="n">0</b> <span class="pct"></span><div class="bar"><div style="width:0"></div></div></div>
<p id="total" class="muted"></p>
<p id="tier" class="muted"></p>
<p><a href="/">Vote</a></p>
<script>
function show(id, n, total) {
  const el = document.getElementById(id), pct = total ? Math.round(100 * n / total) : 0;
  el.querySelector('.n').textContent = n;
  el.querySelector('.pct').textContent = total ? '(' + pct + '%)' : '';
  el.querySelector('.bar div').style.width = pct + '%';
}
async function refresh() {
  try {
    const v = await (await fetch('/result/votes', {cache: 'no-store'})).json();
    show('a', v.a, v.a + v.b); show('b', v.b, v.a + v.b);
    document.getElementById('total').textContent = (v.a + v.b) + ' votes';
    const t = await (await fetch('/result/tier', {cache: 'no-store'})).json();
    let line = t.replicas + (t.replicas === 1 ? ' replica serves' : ' replicas serve') + ' the web tier';
    if (t.last_scale) {
      line += '; it last scaled from ' + t.last_scale.from + ' to ' + t.last_scale.to + ' at ' +
        new Date(t.last_scale.at).toLocaleTimeString() + ' because ' + t.last_scale.reason + '.';
    } else {
      line += '; it has not scaled since this replica started.';
    }
    document.getElementById('tier').textContent = line;
  } catch (e) {
    document.getElementById('tier').textContent = 'no answer: ' + e;
  }
}
refresh();
setInterval(refresh, 1500);
</script>
</body></html>
`))
