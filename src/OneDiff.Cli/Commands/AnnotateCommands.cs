using System.CommandLine;
using System.Globalization;
using OneDiff.Cli.Terminal;
using OneDiff.Data;
using OneDiff.Data.Annotation;
using OneDiff.Data.Construction;
using OneDiff.Data.Formats;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff data edit-pairs</c> (the paper's synthetic candidates from InstructPix2Pix folders)
/// and <c>onediff data annotate</c> (every candidate's request to a chat model, answers into a
/// DiffCap training file): the paper's DiffCap construction (docs/diffcap.md).
/// </summary>
public static class AnnotateCommands
{
    public const string DefaultKeyVariable = "OPENAI_API_KEY";

    public static Command EditPairs()
    {
        var root = new Option<string>("--instructpix2pix") { Description = "an InstructPix2Pix folder: one folder per prompt with prompt.json (input, output, edit) and {seed}_0/{seed}_1 images", Required = true };
        var output = new Option<string>("--out") { Description = "the candidate pairs, DiffCap JSON lines with empty captions and a chat 'request' each", Required = true };
        var template = new Option<string?>("--request-template") { Description = "a text file with your wording of the chat request, using {input}, {output} and {edit}" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "leave out folders without prompts or images, listing each, instead of stopping at the first" };
        var command = new Command("edit-pairs", "Make synthetic candidate pairs from InstructPix2Pix folders, each with a chat request from its original prompt, edited prompt and instruction")
        { root, output, template, skipBad };
        CliAction.Set(command, (parse, _) =>
        {
            var wording = parse.GetValue(template) is { } t ? RequestTemplate.Load(t, RequestTemplate.Synthetic) : RequestTemplate.Synthetic;
            var report = new DataReport(parse.GetValue(skipBad) ? BadInputMode.Skip : BadInputMode.Error);
            var pairs = new InstructPix2PixReader().ReadEditPairs(parse.GetValue(root)!, report);
            foreach (var p in report.Skipped) Console.Error.WriteLine($"skipped {p}");
            DiffCapCandidates.WriteEdits(parse.GetValue(output)!, pairs, wording);
            Console.WriteLine($"wrote {N(pairs.Count)} synthetic candidate pair(s) to {parse.GetValue(output)}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Annotate()
    {
        var defaults = new AnnotationOptions { Model = "m" };
        var candidates = new Option<string>("--candidates") { Description = "candidates of data mine-pairs or data edit-pairs", Required = true };
        var output = new Option<string>("--out") { Description = "the DiffCap training file: the answered candidates, the answer as their caption", Required = true };
        var endpoint = new Option<string>("--endpoint") { Description = "an OpenAI-compatible API's base URL (https://api.openai.com/v1, http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)", Required = true };
        var model = new Option<string>("--model") { Description = "the chat model's name, as the endpoint knows it", Required = true };
        var keyVariable = new Option<string>("--api-key-variable") { Description = "the environment variable holding the API key (unset: none sent)", DefaultValueFactory = _ => DefaultKeyVariable };
        var concurrency = new Option<int>("--concurrency") { Description = "requests in flight at once, at most", DefaultValueFactory = _ => defaults.Concurrency };
        var temperature = new Option<float>("--temperature") { Description = "the chat model's temperature", DefaultValueFactory = _ => defaults.Temperature };
        var maxTokens = new Option<int>("--max-tokens") { Description = "longest answer; a longer one is named as cut and left out", DefaultValueFactory = _ => defaults.MaxTokens };
        var attempts = new Option<int>("--max-attempts") { Description = "tries per request; 429 and 5xx are retried with exponential back-off, honouring Retry-After", DefaultValueFactory = _ => defaults.MaxAttempts };
        var cache = new Option<string?>("--cache") { Description = "the answers kept between runs (default: beside --out, .cache.jsonl): a repeated or resumed run sends nothing already answered" };
        var command = new Command("annotate", "Send each candidate's request to a chat model (any OpenAI-compatible endpoint) and write the answers as a DiffCap training file")
        { candidates, output, endpoint, model, keyVariable, concurrency, temperature, maxTokens, attempts, cache };
        CliAction.Set(command, (parse, cancel) =>
        {
            string outPath = parse.GetValue(output)!, candidatesPath = parse.GetValue(candidates)!;
            var options = UsageException.Check(() =>
            {
                var o = new AnnotationOptions
                {
                    Model = parse.GetValue(model)!, Concurrency = parse.GetValue(concurrency), Temperature = parse.GetValue(temperature),
                    MaxTokens = parse.GetValue(maxTokens), MaxAttempts = parse.GetValue(attempts),
                    CacheFile = parse.GetValue(cache) ?? Path.ChangeExtension(outPath, null) + ".cache.jsonl",
                };
                o.Check();
                return o;
            });
            if (!Uri.TryCreate(parse.GetValue(endpoint), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new UsageException($"--endpoint must be an http(s) URL, not '{parse.GetValue(endpoint)}'");
            var report = new DataReport(BadInputMode.Skip);
            var requests = ChatBatch.ReadRequests(candidatesPath, report);
            using var client = OpenAiChat.Create(uri, options.Model, Environment.GetEnvironmentVariable(parse.GetValue(keyVariable)!));
            Console.Error.WriteLine($"annotating {N(requests.Count)} candidate(s) with {options.Model} at {uri} ({options.Concurrency} at once)");
            var result = WorkProgress.Run("answers", progress =>
            {
                // A bar follows each answer; a log gets a line every ten seconds.
                var runOptions = progress.Interactive ? options with { ProgressEvery = TimeSpan.FromMilliseconds(200) } : options;
                return CandidateAnnotator.AnnotateAsync(client, requests, runOptions, p =>
                {
                    progress.Report("annotating", p.Done, p.Total, $"{p.InputTokens + p.OutputTokens:N0} tokens, {p.FromCache:N0} from the cache");
                    progress.Plain(p.ToString());
                }, cancel).GetAwaiter().GetResult();
            });
            int written = ChatBatch.FillCaptions(candidatesPath, result.Answers, outPath, report);
            // Each problem once: a candidate the annotator named is also one without an answer.
            var problems = result.Problems.Concat(report.Skipped).DistinctBy(p => p.Record).ToList();
            foreach (var p in problems) Console.Error.WriteLine($"left out {p}");
            Console.WriteLine($"wrote {N(written)} captioned pair(s) to {outPath}; sent {N(result.Sent)} request(s), {N(result.FromCache)} answer(s) from the cache, " +
                $"{result.InputTokens + result.OutputTokens:N0} tokens ({result.InputTokens:N0} in, {result.OutputTokens:N0} out)" +
                (problems.Count > 0 ? $"; left out {N(problems.Count)} candidate(s), listed above" : ""));
            return problems.Count > 0 ? ExitCodes.Failed : ExitCodes.Success;
        });
        return command;
    }

    static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
