using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.MLNet;
using OneDiff.Serving.Protocol;
using Prometheus;

namespace OneDiff.Serving;

/// <summary>
/// <c>onediff serve</c>: OpenAI's chat completions API over a fitted <see cref="DiffCaptionTransformer"/>
/// on Kestrel. <c>POST /v1/chat/completions</c> (plain or server-sent events), <c>GET /v1/models</c>,
/// <c>GET /health</c>, <c>GET /metrics</c> and the page at <c>/</c>. Requests are checked (size,
/// images, fields) and their images decoded on the request's thread; the model runs on the
/// batcher's. Every error is JSON in OpenAI's shape.
/// </summary>
public sealed class CaptionServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly CaptionBatcher _batcher;
    readonly ServingOptions _options;
    readonly ServerMetrics _metrics = new();
    readonly byte[]? _keyHash;
    readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    CaptionServer(Func<DiffCaptionTransformer> loadModel, ServingOptions options)
    {
        options.Check();
        _options = options;
        _keyHash = options.ApiKey is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        _app = builder.Build();
        _batcher = new CaptionBatcher(loadModel, options, _metrics);
        Map(_app);
    }

    /// <summary>Starts listening at once; the model loads on the batcher's thread meanwhile
    /// (<c>/health</c> answers 503 until it is ready, and a failure to load shows there).</summary>
    public static async Task<CaptionServer> StartAsync(Func<DiffCaptionTransformer> loadModel, ServingOptions options, CancellationToken cancel = default)
    {
        var server = new CaptionServer(loadModel, options);
        await server._app.StartAsync(cancel);
        return server;
    }

    /// <summary>The addresses it listens on (a port 0 resolved).</summary>
    public IReadOnlyList<string> Urls => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();

    /// <summary>Completes when the model is loaded.</summary>
    public Task Ready => _batcher.Ready;

    internal CaptionBatcher Batcher => _batcher;

    /// <summary>Stops accepting connections, answers the requests already received (within
    /// ASP.NET Core's shutdown timeout), then stops the batcher and disposes the model.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        _batcher.Dispose();
        await _app.DisposeAsync();
    }

    void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                if (context.Request.Path.StartsWithSegments("/v1")) CheckKey(context.Request);
                await next(context);
            }
            catch (ApiError e) { await Refuse(context, e); }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await Refuse(context, ApiError.TooLarge($"the request body is over {_options.MaxRequestBytes / (1 << 20)} MiB"));
            }
            catch (Exception e)
            {
                await Refuse(context, new ApiError(500, "server_error", "internal_error", $"the server failed: {e.GetType().Name}: {e.Message}"));
            }
        });
        app.MapGet("/", () => Results.Content(Page.Html, "text/html; charset=utf-8"));
        app.MapGet("/health", async () =>
        {
            var ready = _batcher.Ready;
            if (ready.IsCompletedSuccessfully) return Results.Json(new { status = "ready", model = _options.ModelName, runs_on = (await ready).RunsOn, queue = _batcher.Waiting });
            if (ready.IsFaulted) return Results.Json(new { status = "failed", error = ready.Exception!.GetBaseException().Message }, statusCode: 503);
            return Results.Json(new { status = "loading" }, statusCode: 503);
        });
        app.MapMetrics("/metrics", _metrics.Registry);
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = _options.ModelName, @object = "model", created = _created, owned_by = "onediff" } },
        }));
        app.MapPost("/v1/chat/completions", ChatCompletions);
        app.MapFallback(context => throw new ApiError(404, "invalid_request_error", "not_found", $"no such endpoint: {context.Request.Method} {context.Request.Path}"));
    }

    async Task Refuse(HttpContext context, ApiError e)
    {
        if (context.Request.Path.StartsWithSegments("/v1/chat/completions"))
        {
            _metrics.Requests.WithLabels(e.Status.ToString()).Inc();
            _metrics.Errors.WithLabels(e.Code).Inc();
        }
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        await e.WriteAsync(context.Response);
    }

    void CheckKey(HttpRequest request)
    {
        if (_keyHash is null) return;
        string header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(401, "authentication_error", "missing_api_key", "this server needs an API key: send 'Authorization: Bearer <key>'");
        // Hashes of equal length, compared in constant time: neither the key nor its length leaks through timing.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        if (!CryptographicOperations.FixedTimeEquals(given, _keyHash))
            throw new ApiError(401, "authentication_error", "invalid_api_key", "the API key is not valid");
    }

    async Task ChatCompletions(HttpContext context)
    {
        var clock = Stopwatch.StartNew();
        var cancel = context.RequestAborted;
        JsonDocument body;
        try { body = await JsonDocument.ParseAsync(context.Request.Body, default, cancel); }
        catch (JsonException e) { throw ApiError.BadRequest($"the body is not valid JSON: {e.Message}", code: "invalid_json"); }
        ChatRequest request;
        using (body) request = ChatRequest.Read(body.RootElement, _options);
        if (request.Model != _options.ModelName)
            throw new ApiError(404, "invalid_request_error", "model_not_found", $"the model '{request.Model}' does not exist; this server has '{_options.ModelName}'", "model");
        if (!_batcher.Ready.IsCompletedSuccessfully)
            throw new ApiError(503, "server_error", "model_not_ready", _batcher.Ready.IsFaulted ? "the model failed to load (see /health)" : "the model is still loading; retry shortly") { RetryAfterSeconds = 2 };
        var model = await _batcher.Ready;

        var (pair, sizes) = Prepare(model, request);
        int beams = request.NumBeams ?? (request.Temperature > 0 ? 1 : model.Settings.NumBeams);
        ulong seed = request.Seed is { } s ? unchecked((ulong)s) : (ulong)Random.Shared.NextInt64();
        var pending = new PendingCaption(pair, beams, request.MaxTokens, request.Temperature, request.TopP, seed, request.Stop, request.Stream, cancel, request.ChangeMap);
        _batcher.Enqueue(pending);

        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Func<CaptionOutcome, object?> changeMap = o => ChangeMapJson(model, o, sizes);
        if (request.Stream) await Stream(context, pending, request, id, created, changeMap);
        else
        {
            var outcome = await pending.Completion.WaitAsync(cancel);
            await context.Response.WriteAsJsonAsync(WithChangeMap(new
            {
                id, @object = "chat.completion", created, model = _options.ModelName,
                choices = new[] { new { index = 0, message = new { role = "assistant", content = outcome.Caption }, finish_reason = outcome.FinishReason, logprobs = (object?)null } },
                usage = Usage(outcome),
            }, changeMap(outcome)), Json.Options, cancel);
        }
        _metrics.Requests.WithLabels("200").Inc();
        _metrics.RequestSeconds.Observe(clock.Elapsed.TotalSeconds);
    }

    /// <summary>Decodes both images (after checking their declared size from the header) and
    /// preprocesses them here, on the request's thread, so the model's thread only decodes captions.</summary>
    /// <returns>the prepared pair, and both images' sizes (where their change maps lie).</returns>
    (PreparedPair Pair, (int W, int H)[] Sizes) Prepare(DiffCaptionTransformer model, ChatRequest request)
    {
        var sizes = new List<(int W, int H)>();
        foreach (var image in new[] { request.Before, request.After })
        {
            (int w, int h) = Guard(image, () => ImageDecoder.Dimensions(image.Bytes, image.Param));
            if ((long)w * h > _options.MaxImagePixels)
                throw ApiError.TooLarge($"the image declares {w} x {h} pixels; the limit is {_options.MaxImagePixels:N0} pixels", image.Param);
            sizes.Add((w, h));
        }
        var pair = Guard(request.Before, () => model.Prepare(ImageInput.FromBytes(request.Before.Bytes, request.Before.Param),
            ImageInput.FromBytes(request.After.Bytes, request.After.Param), request.Prompt, "request"));
        return (pair, sizes.ToArray());
    }

    /// <summary>The extension field <c>change_map</c>: the grid's side, the before and after maps
    /// (row-major, each summing to 1), and for each image the rectangle of its pixels the grid
    /// covers (the model's crop), so a client can draw the map over the image it sent.</summary>
    static object? ChangeMapJson(DiffCaptionTransformer model, CaptionOutcome outcome, (int W, int H)[] sizes)
    {
        if (outcome.Map is not { } map) return null;
        double[] Covers((int W, int H) size)
        {
            var grid = model.MapGrid(size.W, size.H);
            var (x0, y0, _, _) = grid.Bounds(0, 0);
            var (_, _, x1, y1) = grid.Bounds(map.Size - 1, map.Size - 1);
            return [x0, y0, x1, y1];
        }
        return new { grid = map.Size, before = map.Before, after = map.After, before_covers = Covers(sizes[0]), after_covers = Covers(sizes[1]) };
    }

    /// <summary>The response with <c>change_map</c> added where one was asked for (absent otherwise,
    /// as in OpenAI's own responses).</summary>
    static System.Text.Json.Nodes.JsonObject WithChangeMap(object response, object? changeMap)
    {
        var node = JsonSerializer.SerializeToNode(response, Json.Options)!.AsObject();
        if (changeMap is not null) node["change_map"] = JsonSerializer.SerializeToNode(changeMap, Json.Options);
        return node;
    }

    static T Guard<T>(RequestImage image, Func<T> read)
    {
        try { return read(); }
        catch (DataException e)
        {
            string param = e.Problem.File ?? image.Param;
            throw ApiError.BadRequest($"not a readable image ({e.Problem.Message}); send PNG, JPEG, WebP, GIF or BMP", param, "invalid_image");
        }
        catch (InvalidDataException e)
        {
            throw ApiError.BadRequest($"not a readable image ({ImageCheck.Reason(e, image.Param)}); send PNG, JPEG, WebP, GIF or BMP", image.Param, "invalid_image");
        }
    }

    static object Usage(CaptionOutcome o) => new { prompt_tokens = o.PromptTokens, completion_tokens = o.CompletionTokens, total_tokens = o.PromptTokens + o.CompletionTokens };

    /// <summary>Server-sent events: the role, then the caption's pieces as they are generated, the
    /// finish reason, the usage when asked for, then [DONE].</summary>
    async Task Stream(HttpContext context, PendingCaption pending, ChatRequest request, string id, long created, Func<CaptionOutcome, object?> changeMap)
    {
        var cancel = context.RequestAborted;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        async Task Send(object choiceDelta, string? finish, object? usage = null, bool noChoices = false, object? map = null)
        {
            var chunk = WithChangeMap(new
            {
                id, @object = "chat.completion.chunk", created, model = _options.ModelName,
                choices = noChoices ? [] : new[] { new { index = 0, delta = choiceDelta, finish_reason = finish, logprobs = (object?)null } },
                usage,
            }, map);
            await response.WriteAsync("data: " + chunk.ToJsonString(Json.Options) + "\n\n", cancel);
            await response.Body.FlushAsync(cancel);
        }
        await Send(new { role = "assistant", content = "" }, null);
        CaptionOutcome outcome;
        try
        {
            await foreach (var piece in pending.Pieces.ReadAllAsync(cancel))
                await Send(new { content = piece }, null);
            outcome = await pending.Completion.WaitAsync(cancel);
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            // The status line is gone already: the error travels as an event, as OpenAI's streams send it.
            var error = e as ApiError ?? new ApiError(500, "server_error", "internal_error", $"the server failed: {e.GetType().Name}: {e.Message}");
            _metrics.Errors.WithLabels(error.Code).Inc();
            await response.WriteAsync("data: " + JsonSerializer.Serialize(error.Body, Json.Options) + "\n\n", cancel);
            return;
        }
        // The map, when asked for, comes with the last chunk: it needs the whole caption.
        await Send(new { }, outcome.FinishReason, map: changeMap(outcome));
        if (request.IncludeUsage) await Send(new { }, null, Usage(outcome), noChoices: true);
        await response.WriteAsync("data: [DONE]\n\n", cancel);
    }
}
