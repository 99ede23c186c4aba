using System.Globalization;
using System.Net;
using System.Text;
using OneDiff.Data.Images;
using OneDiff.Metrics;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>evaluate --report report.html</c>: one self-contained page of an evaluation. It shows the
/// overall and per-group scores, then every pair with both images as thumbnails (embedded), the
/// prediction, the references and the item's CIDEr. The table sorts by any column (CIDEr ascending
/// first, so the worst captions are at the top) and filters by group. No outside scripts, styles
/// or fonts.
/// </summary>
internal static class ResultsPage
{
    const int ThumbnailSide = 128;

    public static void Write(string path, CaptionEvaluation result, IReadOnlyList<CaptionItem> items, IReadOnlyDictionary<string, (string Before, string After)> images, string title)
    {
        var html = new StringBuilder();
        string E(string text) => WebUtility.HtmlEncode(text);
        string F(double v) => double.IsNaN(v) ? "" : (100 * v).ToString("F1", CultureInfo.InvariantCulture);
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(title)}}</title>
            <style>
              body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
              h1 { font-size: 1.3rem; margin: 0 0 1rem; }
              table { border-collapse: collapse; margin-bottom: 1.2rem; }
              th, td { border-bottom: 1px solid #dde1e8; padding: .35rem .6rem; text-align: left; vertical-align: top; }
              th { background: #f3f5f8; }
              #items th[data-key] { cursor: pointer; user-select: none; }
              #items th[data-key]::after { content: " \2195"; color: #98a1b2; }
              td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
              td img { width: 96px; height: 96px; object-fit: contain; background: #eef0f4; }
              .refs { margin: 0; padding-left: 1rem; color: #4a5263; }
              .missing { color: #b3261e; font-size: .85rem; }
              .controls { margin: .5rem 0 1rem; }
            </style></head><body>
            <h1>{{E(title)}}</h1>
            <table id="scores"><thead><tr><th>set</th><th class="num">pairs</th><th class="num">BLEU-4</th><th class="num">METEOR</th><th class="num">ROUGE-L</th><th class="num">CIDEr</th></tr></thead><tbody>

            """);
        void ScoreRow(string name, int count, CaptionScores s) =>
            html.Append($"<tr><td>{E(name)}</td><td class=\"num\">{count}</td><td class=\"num\">{F(s.Bleu4)}</td><td class=\"num\">{F(s.Meteor)}</td><td class=\"num\">{F(s.RougeL)}</td><td class=\"num\">{F(s.Cider)}</td></tr>\n");
        ScoreRow("all", items.Count, result.Corpus);
        foreach (var (group, scores) in result.PerGroup.OrderBy(g => g.Key, StringComparer.Ordinal)) ScoreRow(group, result.GroupSizes[group], scores);
        html.Append("</tbody></table>\n<div class=\"controls\"><label>group <select id=\"group\"><option value=\"\">all</option>");
        foreach (var group in result.PerGroup.Keys.Order(StringComparer.Ordinal)) html.Append($"<option>{E(group)}</option>");
        html.Append("</select></label> <span id=\"shown\"></span> (scores x100; click a column to sort)</div>\n");
        html.Append("<table id=\"items\"><thead><tr><th data-key=\"id\">id</th><th data-key=\"group\">group</th><th>before</th><th>after</th>" +
            "<th data-key=\"prediction\">prediction</th><th>references</th><th data-key=\"cider\" class=\"num\">CIDEr</th></tr></thead><tbody>\n");
        foreach (var item in items)
        {
            double cider = result.PerItem.TryGetValue(item.Id, out var s) ? s.Cider : double.NaN;
            string cell(string? file) => file is null ? "<td class=\"missing\">no image for this id</td>" : $"<td>{Thumbnail(file)}</td>";
            (string? Before, string? After) pair = images.TryGetValue(item.Id, out var p) ? (p.Before, p.After) : (null, null);
            html.Append($"<tr data-id=\"{E(item.Id)}\" data-group=\"{E(item.Group ?? "")}\" data-prediction=\"{E(item.Candidate)}\" data-cider=\"{(100 * cider).ToString("R", CultureInfo.InvariantCulture)}\">" +
                $"<td>{E(item.Id)}</td><td>{E(item.Group ?? "")}</td>{cell(pair.Before)}{cell(pair.After)}<td>{E(item.Candidate)}</td>" +
                $"<td><ul class=\"refs\">{string.Concat(item.References.Select(r => $"<li>{E(r)}</li>"))}</ul></td><td class=\"num\">{F(cider)}</td></tr>\n");
        }
        html.Append("""
            </tbody></table>
            <script>
            "use strict";
            const body = document.querySelector("#items tbody");
            const rows = Array.from(body.rows);
            let sortKey = null, ascending = true;
            function show() {
              const group = document.getElementById("group").value;
              let shown = 0;
              for (const r of rows) { const on = !group || r.dataset.group === group; r.hidden = !on; if (on) shown++; }
              document.getElementById("shown").textContent = shown + " of " + rows.length + " pairs";
            }
            function sortBy(key) {
              ascending = sortKey === key ? !ascending : true;
              sortKey = key;
              const value = r => key === "cider" ? parseFloat(r.dataset.cider) : r.dataset[key];
              rows.sort((a, b) => { const x = value(a), y = value(b); return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
              for (const r of rows) body.appendChild(r);
            }
            for (const th of document.querySelectorAll("#items th[data-key]")) th.addEventListener("click", () => sortBy(th.dataset.key));
            document.getElementById("group").addEventListener("change", show);
            show();
            </script>
            </body></html>
            """);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, html.ToString(), new UTF8Encoding(false));
    }

    /// <summary>The image as an embedded PNG thumbnail; an image that does not decode is named in its cell.</summary>
    static string Thumbnail(string file)
    {
        try
        {
            var png = ImageDecoder.EncodePng(ImageDecoder.Thumbnail(ImageDecoder.Decode(file), ThumbnailSide));
            return $"<img alt=\"{WebUtility.HtmlEncode(Path.GetFileName(file))}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">";
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException)
        {
            return $"<span class=\"missing\">{WebUtility.HtmlEncode(e.Message)}</span>";
        }
    }
}
