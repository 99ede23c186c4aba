using System.Text.Json;
using System.Text.Json.Nodes;

namespace OneDiff.Data.Formats;

/// <summary>
/// The chat-model step of the paper's pair generation, as files: the candidates' requests in the
/// OpenAI batch format (which vLLM's <c>run_batch</c> also reads, so an open model can answer them
/// offline), and the answers, in that format's output or as plain <c>{"id", "caption"}</c> lines,
/// put back into the candidates' <c>captions</c>.
/// </summary>
public static class ChatBatch
{
    static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One chat-completion request per candidate line, keyed by the candidate's id.</summary>
    /// <returns>the number of requests written.</returns>
    public static int WriteRequests(string candidatesPath, string requestsPath, string model, int maxTokens, DataReport report)
    {
        var lines = ReadCandidates(candidatesPath, report);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(requestsPath))!);
        using var w = new StreamWriter(requestsPath, false, new System.Text.UTF8Encoding(false));
        int written = 0;
        foreach (var (where, line) in lines)
        {
            if (line["request"]?.GetValueKind() != JsonValueKind.String) { report.Problem(where, candidatesPath, "has no \"request\" text"); continue; }
            var request = new JsonObject
            {
                ["custom_id"] = line["id"]!.GetValue<string>(),
                ["method"] = "POST",
                ["url"] = "/v1/chat/completions",
                ["body"] = new JsonObject
                {
                    ["model"] = model,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = line["request"]!.GetValue<string>() }),
                    ["max_tokens"] = maxTokens,
                    ["temperature"] = 0,
                },
            };
            w.WriteLine(request.ToJsonString(Compact));
            written++;
        }
        return written;
    }

    /// <summary>Each candidate's id and request, for <see cref="Annotation.CandidateAnnotator"/>; a
    /// line without a request is a problem naming it.</summary>
    public static List<Annotation.AnnotationRequest> ReadRequests(string candidatesPath, DataReport report)
    {
        var requests = new List<Annotation.AnnotationRequest>();
        foreach (var (where, line) in ReadCandidates(candidatesPath, report))
        {
            if (Text(line["request"]) is not { Length: > 0 } request) { report.Problem(where, candidatesPath, "has no \"request\" text"); continue; }
            requests.Add(new Annotation.AnnotationRequest(where, line["id"]!.GetValue<string>(), request));
        }
        return requests;
    }

    /// <summary>Answers by candidate id: OpenAI/vLLM batch output lines (<c>custom_id</c>,
    /// <c>response.body.choices[0].message.content</c>) or plain <c>{"id", "caption"}</c> lines. A
    /// failed request, an empty answer or an id answered twice is a problem naming the line.</summary>
    public static Dictionary<string, string> ReadAnswers(string path, DataReport report)
    {
        var answers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (at, line) in JsonLines(path, "answers", report))
        {
            var (id, answer, failure) = line.ContainsKey("custom_id") ? FromBatchOutput(line) : (Text(line["id"]), Text(line["caption"]), null);
            if (id is null) { report.Problem(at, path, "needs \"custom_id\" (batch output) or \"id\" and \"caption\""); continue; }
            string where = $"{at} (id {id})";
            if (failure is not null) { report.Problem(where, path, $"the request failed: {failure}"); continue; }
            if (string.IsNullOrWhiteSpace(answer)) { report.Problem(where, path, "the answer is empty"); continue; }
            if (!answers.TryAdd(id, answer.Trim())) report.Problem(where, path, "the id is answered more than once");
        }
        return answers;
    }

    static (string? Id, string? Answer, string? Failure) FromBatchOutput(JsonObject line)
    {
        string? id = Text(line["custom_id"]);
        if (line["error"] is JsonNode error && error.GetValueKind() != JsonValueKind.Null) return (id, null, error.ToJsonString(Compact));
        var response = line["response"] as JsonObject;
        if (response?["status_code"] is JsonNode status && status.GetValueKind() == JsonValueKind.Number && status.GetValue<int>() != 200)
            return (id, null, $"status {status.GetValue<int>()}");
        // OpenAI and vLLM put the completion under response.body; accept it directly under response too.
        var completion = response?["body"] as JsonObject ?? response;
        var content = completion?["choices"]?[0]?["message"]?["content"];
        return (id, Text(content), content is null ? "no choices[0].message.content in the response" : null);
    }

    static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>Writes the candidates whose id has an answer, the answer as their one caption: a
    /// DiffCap training file. An unanswered candidate, or an answer to no candidate, is a problem.</summary>
    /// <returns>the number of pairs written.</returns>
    public static int FillCaptions(string candidatesPath, IReadOnlyDictionary<string, string> answers, string outPath, DataReport report)
    {
        var lines = ReadCandidates(candidatesPath, report);
        var ids = lines.Select(l => l.Line["id"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        foreach (var stray in answers.Keys.Where(k => !ids.Contains(k)).Order(StringComparer.Ordinal))
            report.Problem($"id {stray}", null, "is answered but is no candidate of " + Path.GetFileName(candidatesPath));
        // Paths stay relative to the candidates' folder: write next to it, or make them absolute.
        string from = Path.GetDirectoryName(Path.GetFullPath(candidatesPath))!, to = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        Directory.CreateDirectory(to);
        int written = 0;
        using var w = new StreamWriter(outPath, false, new System.Text.UTF8Encoding(false));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (where, line) in lines)
        {
            string id = line["id"]!.GetValue<string>();
            if (!seen.Add(id)) { report.Problem(where, candidatesPath, $"the id {id} is listed more than once; only its first line is written"); continue; }
            if (!answers.TryGetValue(id, out var answer)) { report.Problem(where, candidatesPath, "has no answer"); continue; }
            line["captions"] = new JsonArray(answer);
            foreach (var key in new[] { "image1", "image2" })
                if (Text(line[key]) is { } image && !Path.IsPathRooted(image))
                    line[key] = DiffCapJsonl.Relative(to, Path.GetFullPath(Path.Combine(from, image)));
            w.WriteLine(line.ToJsonString(Compact));
            written++;
        }
        return written;
    }

    static List<(string Where, JsonObject Line)> ReadCandidates(string path, DataReport report)
    {
        var lines = new List<(string, JsonObject)>();
        foreach (var (at, line) in JsonLines(path, "candidates", report))
        {
            if (Text(line["id"]) is not { } id) { report.Problem(at, path, "needs an \"id\""); continue; }
            lines.Add(($"{at} (id {id})", line));
        }
        return lines;
    }

    /// <summary>The JSON objects of a JSON-lines file, each with "file line N"; a line that is not
    /// one is a problem naming it.</summary>
    static IEnumerable<(string Where, JsonObject Line)> JsonLines(string path, string what, DataReport report)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} file not found: {path}", path);
        int lineNo = 0;
        foreach (var text in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            string where = $"{Path.GetFileName(path)} line {lineNo}";
            JsonObject? line = null;
            try { line = JsonNode.Parse(text) as JsonObject; }
            catch (JsonException e) { report.Problem(where, path, $"not valid JSON ({e.Message})"); continue; }
            if (line is null) { report.Problem(where, path, "not a JSON object"); continue; }
            yield return (where, line);
        }
    }
}
