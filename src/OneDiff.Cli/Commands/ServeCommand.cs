using System.CommandLine;
using Microsoft.ML;
using OneDiff.MLNet;
using OneDiff.Serving;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff serve</c>: the model behind an OpenAI-compatible HTTP API with request batching,
/// Prometheus metrics and a web page, until Ctrl+C or SIGTERM (docs/serving.md).
/// </summary>
public static class ServeCommand
{
    public const string ApiKeyVariable = "ONEDIFF_API_KEY";

    public static Command Create()
    {
        var model = new ModelOptions();
        var defaults = new ServingOptions();
        var urls = new Option<string>("--urls") { Description = "where to listen (loopback unless you name another address)", DefaultValueFactory = _ => defaults.Urls };
        var name = new Option<string?>("--model-name") { Description = "the model's name in the API (default: the model file's name without .zip)" };
        var maxBatch = new Option<int>("--max-batch") { Description = "at most this many pairs decoded together", DefaultValueFactory = _ => defaults.MaxBatch };
        var maxWait = new Option<int>("--max-wait-ms") { Description = "how long a request waits for others to share its batch", DefaultValueFactory = _ => defaults.MaxWaitMilliseconds };
        var maxQueue = new Option<int>("--max-queue") { Description = "requests that may wait; beyond them the answer is 429 with Retry-After", DefaultValueFactory = _ => defaults.MaxQueue };
        var apiKey = new Option<string?>("--api-key") { Description = $"require 'Authorization: Bearer KEY' on /v1 (or set {ApiKeyVariable}, which keeps it out of the process list)" };
        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (chat completions with two images), with a web page at /")
        {
            urls, name, maxBatch, maxWait, maxQueue, apiKey,
        };
        // The server batches requests itself (--max-batch), so the offline --batch-size is not offered.
        foreach (var o in model.All.Where(o => o != model.BatchSize)) command.Options.Add(o);
        CliAction.Set(command, (parse, cancel) =>
        {
            string path = parse.GetValue(model.Model)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"model not found: {path}", path);
            var overrides = model.Overrides(parse);
            var options = UsageException.Check(() =>
            {
                var o = new ServingOptions
                {
                    Urls = parse.GetValue(urls)!, ModelName = parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(path),
                    MaxBatch = parse.GetValue(maxBatch), MaxWaitMilliseconds = parse.GetValue(maxWait), MaxQueue = parse.GetValue(maxQueue),
                    ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable),
                };
                o.Check();
                return o;
            });
            return Serve(() => new MLContext().DiffCaptioning().LoadTransformer(path, overrides), options, cancel).GetAwaiter().GetResult();
        }, ModelOptions.OutOfMemoryAdvice);
        return command;
    }

    static async Task<int> Serve(Func<DiffCaptionTransformer> load, ServingOptions options, CancellationToken cancel)
    {
        await using var server = await CaptionServer.StartAsync(load, options, cancel);
        Console.Error.WriteLine($"listening on {string.Join(", ", server.Urls)}; loading the model '{options.ModelName}'...");
        await server.Ready.WaitAsync(cancel);
        Console.Error.WriteLine($"ready: POST {server.Urls[0]}/v1/chat/completions, the page at {server.Urls[0]}/ (Ctrl+C stops)");
        try { await Task.Delay(Timeout.Infinite, cancel); }
        catch (OperationCanceledException) { }
        Console.Error.WriteLine("stopping: no new connections; the requests already received are answered first");
        return ExitCodes.Success;
    }
}
