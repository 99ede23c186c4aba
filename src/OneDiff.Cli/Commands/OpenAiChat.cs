using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OneDiff.Data.Annotation;
using OpenAI;

namespace OneDiff.Cli.Commands;

/// <summary>
/// An OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, <c>onediff serve</c>) as an
/// <see cref="IChatClient"/>, through Microsoft.Extensions.AI.OpenAI. The client's own retries are
/// off: the annotator retries, and an HTTP error reaches it as a <see cref="ChatRequestFailure"/>
/// carrying the status and Retry-After.
/// </summary>
internal static class OpenAiChat
{
    public static IChatClient Create(Uri endpoint, string model, string? apiKey) =>
        new FailureTranslation(new OpenAIClient(new ApiKeyCredential(apiKey ?? "none"), new OpenAIClientOptions
        {
            Endpoint = endpoint,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromMinutes(5),
        }).GetChatClient(model).AsIChatClient());

    sealed class FailureTranslation(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            try { return await base.GetResponseAsync(messages, options, cancellationToken); }
            catch (ClientResultException e) when (e.Status > 0)
            {
                throw new ChatRequestFailure(e.Status, $"HTTP {e.Status}: {Brief(e)}", RetryAfter(e.GetRawResponse()));
            }
            catch (ClientResultException e)
            {
                // No answer at all (refused or reset connection): worth another try, as a lost connection is.
                throw new HttpRequestException($"no answer from the endpoint: {e.Message}", e);
            }
        }

        static string Brief(ClientResultException e)
        {
            string text = e.GetRawResponse()?.Content?.ToString() ?? e.Message;
            return text.Length > 300 ? text[..300] + "..." : text;
        }

        /// <summary>Retry-After as seconds or as an HTTP date.</summary>
        static TimeSpan? RetryAfter(PipelineResponse? response)
        {
            if (response is null || !response.Headers.TryGetValue("Retry-After", out var value) || value is null) return null;
            if (double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)) return TimeSpan.FromSeconds(Math.Max(0, seconds));
            if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
                return at > DateTimeOffset.UtcNow ? at - DateTimeOffset.UtcNow : TimeSpan.Zero;
            return null;
        }
    }
}
