//! Every string the admin UI shows, one table per language: [`pt`] (the
//! default, pt-BR) and [`en`]. Both are exhaustive `match`es over [`M`], so
//! a message missing in one language does not compile. Templates never hold
//! text of their own; they ask `ctx.t(M::…)`. Numbers and dates are
//! formatted here too, per language, in the workspace's time zone.

use chrono::{DateTime, Utc};

/// The UI's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Pt,
    En,
}

impl Lang {
    /// The `lang` attribute and the `?lang=` / cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pt => "pt-BR",
            Self::En => "en",
        }
    }

    /// `?lang=` or the cookie: `en…` is English, `pt…` Portuguese.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim().to_ascii_lowercase();
        if v.starts_with("en") {
            Some(Self::En)
        } else if v.starts_with("pt") {
            Some(Self::Pt)
        } else {
            None
        }
    }

    /// From `Accept-Language`: English when the highest-weighted of the two
    /// languages is English; Portuguese otherwise (and when neither is named).
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Self::parse) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Self::Pt, |(_, l)| l)
    }

    pub fn t(self, m: M) -> &'static str {
        match self {
            Self::Pt => pt(m),
            Self::En => en(m),
        }
    }

    /// An integer with the language's thousands separator.
    pub fn int(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let sep = match self {
            Self::Pt => '.',
            Self::En => ',',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    }

    /// A number with one decimal, in the language's decimal mark.
    pub fn dec1(self, x: f64) -> String {
        let s = format!("{x:.1}");
        match self {
            Self::Pt => s.replace('.', ","),
            Self::En => s,
        }
    }

    /// An amount in cents with two decimals: `1.234,50` or `1,234.50`.
    pub fn money(self, cents: i64) -> String {
        let sign = if cents < 0 { "-" } else { "" };
        let (whole, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
        let mark = match self {
            Self::Pt => ',',
            Self::En => '.',
        };
        format!("{sign}{}{mark}{frac:02}", self.int(whole as i64))
    }

    /// A moment in the workspace's time zone: `02/12/2026 15:04` in
    /// Portuguese, `2026-12-02 15:04` in English.
    pub fn datetime(self, at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
        let local = at.with_timezone(&tz);
        match self {
            Self::Pt => local.format("%d/%m/%Y %H:%M:%S").to_string(),
            Self::En => local.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    /// A day, short: `02/12` or `12-02`.
    pub fn day(self, d: chrono::NaiveDate) -> String {
        match self {
            Self::Pt => d.format("%d/%m").to_string(),
            Self::En => d.format("%m-%d").to_string(),
        }
    }
}

/// The UI's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum M {
    AppTagline,
    SkipToContent,
    TabEntrada,
    TabSaida,
    TabChaves,
    TabLogs,
    TabProducts,
    TabCategories,
    TabStudents,
    MainMenu,
    Logout,
    Language,
    // Login
    LoginTitle,
    LoginToken,
    LoginTokenHint,
    LoginSubmit,
    LoginWrong,
    LoginTooMany,
    LoginForm,
    // Common
    Save,
    Cancel,
    Edit,
    Delete,
    Activate,
    Deactivate,
    Copy,
    Copied,
    Reveal,
    Hide,
    Back,
    Search,
    Filter,
    NextPage,
    Actions,
    Name,
    Status,
    Active,
    Inactive,
    CreatedAt,
    Gateway,
    Url,
    Products,
    Categories,
    All,
    None,
    ConfirmDelete,
    ConfirmDeleteHint,
    FlashSaved,
    FlashDeleted,
    FlashCreated,
    FlashSent,
    FlashRotated,
    FlashQueued,
    FlashLoggedOut,
    ErrorPrefix,
    BadCsrf,
    NotFound,
    Unavailable,
    FilterList,
    // Products and categories
    ProductsTitle,
    NewProduct,
    EditProduct,
    ExternalIds,
    ExternalIdsHint,
    ExternalId,
    ProductsEmpty,
    CategoriesTitle,
    NewCategory,
    EditCategory,
    CategoriesEmpty,
    CategoryProducts,
    // Entrada
    EntradaTitle,
    EntradaIntro,
    NewInboundUrl,
    EditInboundUrl,
    EntradaEmpty,
    Slug,
    SlugHint,
    AccessDays,
    AccessDaysHint,
    Lifetime,
    Days,
    TestUrl,
    DryRunTitle,
    DryRunIntro,
    Payload,
    Headers,
    HeadersHint,
    QueryString,
    Sample,
    SampleNone,
    RunDryRun,
    DryRunNothingStored,
    DryRunResult,
    Detected,
    Proof,
    ProofPassed,
    ProofFailed,
    NormalizedEvent,
    Effects,
    OutboundEvents,
    NoEffects,
    Outcome,
    // Chaves
    ChavesTitle,
    ChavesIntro,
    GlobalUrl,
    GlobalUrlHint,
    NewKey,
    KeysEmpty,
    Secret,
    SecretHint,
    Generate,
    ApiKey,
    ApiKeyHint,
    WhereToPaste,
    KeyCreatedOnce,
    // Saída
    SaidaTitle,
    SaidaIntro,
    NewEndpoint,
    EditEndpoint,
    EndpointsEmpty,
    Events,
    EventsHint,
    EventCount,
    ProductFilter,
    ProductFilterHint,
    CustomHeaders,
    HeaderName,
    HeaderValue,
    AddHeader,
    SendTest,
    RotateSecret,
    SigningSecret,
    Deliveries,
    DeliveriesEmpty,
    Resend,
    Attempts,
    EveryEvent,
    // Logs
    LogsTitle,
    Queue,
    QWaiting,
    QProcessing,
    QLate,
    QDone,
    QFailed,
    KpiEvents,
    KpiSuccess,
    KpiFailures,
    KpiAvgTime,
    ChartTitle,
    Period,
    LastDays,
    Success,
    Failure,
    Date,
    Event,
    Direction,
    Customer,
    Time,
    Webhook,
    In,
    Out,
    Email,
    ExportCsv,
    LogsEmpty,
    LogDetail,
    Response,
    Reprocess,
    WhatIfReprocess,
    Error,
    // Students
    StudentsTitle,
    StudentsIntro,
    StudentsEmpty,
    StudentNotFound,
    Access,
    AccessEmpty,
    Source,
    Until,
    Forever,
    GrantAccess,
    Revoke,
    Product,
    Category,
    OutWouldApply,
    OutDuplicate,
    OutIgnored,
    OutWouldWait,
    OutProofFailed,
    OutUnrecognized,
    OutInactiveUrl,
    OutRejected,
    EffGrant,
    EffExtend,
    EffRevoke,
    EffEnd,
    EffNone,
}

/// pt-BR, the default.
pub fn pt(m: M) -> &'static str {
    use M::*;
    match m {
        AppTagline => "Integrações",
        SkipToContent => "Ir para o conteúdo",
        TabEntrada => "Entrada",
        TabSaida => "Saída",
        TabChaves => "Chaves",
        TabLogs => "Logs",
        TabProducts => "Produtos",
        TabCategories => "Categorias",
        TabStudents => "Alunos",
        MainMenu => "Menu principal",
        Logout => "Sair",
        Language => "Idioma",
        LoginTitle => "Entrar no gancho",
        LoginToken => "Token de administrador ou chave de API",
        LoginTokenHint => "O token aparece no terminal na primeira vez que o gancho inicia (ou é o valor de GANCHO_ADMIN_TOKEN).",
        LoginSubmit => "Entrar",
        LoginWrong => "Token incorreto. Confira e tente de novo.",
        LoginTooMany => "Muitas tentativas. Aguarde um minuto e tente de novo.",
        LoginForm => "Acesso",
        Save => "Salvar",
        Cancel => "Cancelar",
        Edit => "Editar",
        Delete => "Excluir",
        Activate => "Ativar",
        Deactivate => "Desativar",
        Copy => "Copiar",
        Copied => "Copiado!",
        Reveal => "Mostrar",
        Hide => "Ocultar",
        Back => "Voltar",
        Search => "Buscar",
        Filter => "Filtrar",
        NextPage => "Próxima página",
        Actions => "Ações",
        Name => "Nome",
        Status => "Status",
        Active => "Ativo",
        Inactive => "Inativo",
        CreatedAt => "Criado em",
        Gateway => "Plataforma de pagamento",
        Url => "URL",
        Products => "Produtos",
        Categories => "Categorias",
        All => "Todos",
        None => "Nenhum",
        ConfirmDelete => "Excluir de verdade?",
        ConfirmDeleteHint => "Isto não pode ser desfeito.",
        FlashSaved => "Alterações salvas.",
        FlashDeleted => "Excluído.",
        FlashCreated => "Criado com sucesso.",
        FlashSent => "Envio de teste colocado na fila.",
        FlashRotated => "Novo segredo gerado. O anterior ainda vale por 24 horas.",
        FlashQueued => "Feito. Veja o resultado em Logs.",
        FlashLoggedOut => "Você saiu.",
        ErrorPrefix => "Não foi possível concluir:",
        BadCsrf => "O formulário expirou. Recarregue a página e tente de novo.",
        NotFound => "Não encontrado.",
        Unavailable => "O banco de dados está indisponível agora. Tente de novo em alguns segundos.",
        FilterList => "Filtrar a lista",
        ProductsTitle => "Produtos",
        NewProduct => "+ Novo Produto",
        EditProduct => "Editar produto",
        ExternalIds => "Códigos na plataforma de pagamento",
        ExternalIdsHint => "O código do produto em cada plataforma (por exemplo, o ID do produto na Hotmart). É assim que uma venda encontra o produto.",
        ExternalId => "Código do produto",
        ProductsEmpty => "Nenhum produto ainda. Crie seu primeiro produto para liberar acesso nas vendas.",
        CategoriesTitle => "Categorias",
        NewCategory => "+ Nova Categoria",
        EditCategory => "Editar categoria",
        CategoriesEmpty => "Nenhuma categoria ainda. Uma categoria agrupa produtos para liberar todos de uma vez.",
        CategoryProducts => "Produtos desta categoria",
        EntradaTitle => "URLs de entrada",
        EntradaIntro => "Cada plataforma de pagamento envia as vendas para uma URL. Cole a URL no painel da plataforma.",
        NewInboundUrl => "+ Nova URL",
        EditInboundUrl => "Editar URL de entrada",
        EntradaEmpty => "Crie sua primeira URL de entrada.",
        Slug => "Final da URL",
        SlugHint => "Letras minúsculas, números e hífens. Preenchido a partir do nome.",
        AccessDays => "Dias de acesso",
        AccessDaysHint => "Deixe em branco para acesso vitalício.",
        Lifetime => "Vitalício",
        Days => "dias",
        TestUrl => "Testar",
        DryRunTitle => "Testar sem gravar",
        DryRunIntro => "Cole uma notificação da plataforma (ou escolha um exemplo) e veja o que o gancho faria. Nada é gravado nem enviado.",
        Payload => "Conteúdo da notificação",
        Headers => "Cabeçalhos",
        HeadersHint => "Um por linha, no formato Nome: valor (por exemplo, X-Hotmart-Hottok: …).",
        QueryString => "Parâmetros da URL",
        Sample => "Exemplo",
        SampleNone => "Nenhum (colar o meu)",
        RunDryRun => "Testar",
        DryRunNothingStored => "Teste: nada foi gravado nem enviado.",
        DryRunResult => "Resultado do teste",
        Detected => "Plataforma reconhecida",
        Proof => "Autenticidade",
        ProofPassed => "Confirmada",
        ProofFailed => "Recusada",
        NormalizedEvent => "Evento",
        Effects => "Acessos",
        OutboundEvents => "Webhooks que seriam enviados",
        NoEffects => "Nenhum.",
        Outcome => "Resultado",
        ChavesTitle => "Chaves",
        ChavesIntro => "A chave prova que a notificação veio mesmo da plataforma. Cadastre uma por plataforma.",
        GlobalUrl => "URL global",
        GlobalUrlHint => "Uma única URL para todas as plataformas: o gancho reconhece de onde veio cada venda.",
        NewKey => "+ Nova Chave",
        KeysEmpty => "Nenhuma chave ainda. Cadastre a chave da sua plataforma de pagamento.",
        Secret => "Segredo",
        SecretHint => "Cole o token da plataforma, ou gere um e cole-o no painel da plataforma.",
        Generate => "Gerar segredo",
        ApiKey => "Chave de API da plataforma",
        ApiKeyHint => "Só para Asaas: o gancho busca o e-mail do comprador com ela.",
        WhereToPaste => "Onde colar",
        KeyCreatedOnce => "Guarde o segredo agora: depois ele aparece mascarado.",
        SaidaTitle => "Webhooks de saída",
        SaidaIntro => "O gancho avisa os seus sistemas (área de membros, CRM) a cada evento, com assinatura.",
        NewEndpoint => "+ Novo Webhook",
        EditEndpoint => "Editar webhook",
        EndpointsEmpty => "Nenhum webhook ainda. Crie um para avisar o seu sistema a cada venda.",
        Events => "Eventos",
        EventsHint => "Nenhum marcado: todos os eventos.",
        EventCount => "Eventos",
        ProductFilter => "Só destes produtos",
        ProductFilterHint => "Nenhum marcado: todos os produtos.",
        CustomHeaders => "Cabeçalhos personalizados",
        HeaderName => "Nome do cabeçalho",
        HeaderValue => "Valor do cabeçalho",
        AddHeader => "+ Cabeçalho",
        SendTest => "Enviar teste",
        RotateSecret => "Gerar novo segredo",
        SigningSecret => "Segredo de assinatura",
        Deliveries => "Histórico de envios",
        DeliveriesEmpty => "Nenhum envio ainda.",
        Resend => "Reenviar",
        Attempts => "Tentativas",
        EveryEvent => "Todos",
        LogsTitle => "Logs",
        Queue => "Fila de envio",
        QWaiting => "Aguardando",
        QProcessing => "Processando",
        QLate => "Atrasados",
        QDone => "Concluídos",
        QFailed => "Falhas",
        KpiEvents => "Eventos",
        KpiSuccess => "Sucesso",
        KpiFailures => "Falhas",
        KpiAvgTime => "Tempo médio",
        ChartTitle => "Eventos por dia",
        Period => "Período",
        LastDays => "Últimos dias",
        Success => "Sucesso",
        Failure => "Falha",
        Date => "Data",
        Event => "Evento",
        Direction => "Direção",
        Customer => "Cliente",
        Time => "Tempo",
        Webhook => "Webhook",
        In => "Entrada",
        Out => "Saída",
        Email => "E-mail",
        ExportCsv => "Exportar CSV",
        LogsEmpty => "Nenhum evento no período. Quando uma venda chegar, ela aparece aqui.",
        LogDetail => "Detalhe do evento",
        Response => "Resposta",
        Reprocess => "Reprocessar",
        WhatIfReprocess => "O que aconteceria se eu reprocessar agora?",
        Error => "Erro",
        StudentsTitle => "Alunos",
        StudentsIntro => "Busque um aluno pelo e-mail para ver e mudar seus acessos.",
        StudentsEmpty => "Nenhum aluno ainda. Eles aparecem quando chega a primeira venda.",
        StudentNotFound => "Nenhum aluno com este e-mail.",
        Access => "Acessos",
        AccessEmpty => "Sem acesso no momento.",
        Source => "Origem",
        Until => "Até",
        Forever => "Sem prazo",
        GrantAccess => "Liberar acesso",
        Revoke => "Revogar",
        Product => "Produto",
        Category => "Categoria",
        OutWouldApply => "Seria aplicado",
        OutDuplicate => "Já recebido antes: nada mudaria",
        OutIgnored => "Seria ignorado",
        OutWouldWait => "Aguardaria o e-mail do comprador",
        OutProofFailed => "Autenticidade recusada",
        OutUnrecognized => "Formato não reconhecido",
        OutInactiveUrl => "URL inativa",
        OutRejected => "Seria recusado",
        EffGrant => "Liberar",
        EffExtend => "Estender",
        EffRevoke => "Revogar",
        EffEnd => "Encerrar",
        EffNone => "Nada",
    }
}

/// English.
pub fn en(m: M) -> &'static str {
    use M::*;
    match m {
        AppTagline => "Integrations",
        SkipToContent => "Skip to content",
        TabEntrada => "Inbound",
        TabSaida => "Outbound",
        TabChaves => "Keys",
        TabLogs => "Logs",
        TabProducts => "Products",
        TabCategories => "Categories",
        TabStudents => "Students",
        MainMenu => "Main menu",
        Logout => "Log out",
        Language => "Language",
        LoginTitle => "Sign in to gancho",
        LoginToken => "Admin token or API key",
        LoginTokenHint => "The token is printed in the terminal the first time gancho starts (or is the value of GANCHO_ADMIN_TOKEN).",
        LoginSubmit => "Sign in",
        LoginWrong => "Wrong token. Check it and try again.",
        LoginTooMany => "Too many attempts. Wait a minute and try again.",
        LoginForm => "Sign in",
        Save => "Save",
        Cancel => "Cancel",
        Edit => "Edit",
        Delete => "Delete",
        Activate => "Activate",
        Deactivate => "Deactivate",
        Copy => "Copy",
        Copied => "Copied!",
        Reveal => "Show",
        Hide => "Hide",
        Back => "Back",
        Search => "Search",
        Filter => "Filter",
        NextPage => "Next page",
        Actions => "Actions",
        Name => "Name",
        Status => "Status",
        Active => "Active",
        Inactive => "Inactive",
        CreatedAt => "Created",
        Gateway => "Payment platform",
        Url => "URL",
        Products => "Products",
        Categories => "Categories",
        All => "All",
        None => "None",
        ConfirmDelete => "Really delete?",
        ConfirmDeleteHint => "This cannot be undone.",
        FlashSaved => "Changes saved.",
        FlashDeleted => "Deleted.",
        FlashCreated => "Created.",
        FlashSent => "Test delivery queued.",
        FlashRotated => "New secret generated. The old one keeps working for 24 hours.",
        FlashQueued => "Done. See the outcome in Logs.",
        FlashLoggedOut => "You have logged out.",
        ErrorPrefix => "Could not finish:",
        BadCsrf => "The form expired. Reload the page and try again.",
        NotFound => "Not found.",
        Unavailable => "The database is unavailable right now. Try again in a few seconds.",
        FilterList => "Filter the list",
        ProductsTitle => "Products",
        NewProduct => "+ New Product",
        EditProduct => "Edit product",
        ExternalIds => "Codes on the payment platform",
        ExternalIdsHint => "The product's code on each platform (for example, the product ID on Hotmart). This is how a sale finds the product.",
        ExternalId => "Product code",
        ProductsEmpty => "No products yet. Create your first product to grant access on sales.",
        CategoriesTitle => "Categories",
        NewCategory => "+ New Category",
        EditCategory => "Edit category",
        CategoriesEmpty => "No categories yet. A category groups products to grant them all at once.",
        CategoryProducts => "Products in this category",
        EntradaTitle => "Inbound URLs",
        EntradaIntro => "Each payment platform sends its sales to a URL. Paste the URL into the platform's panel.",
        NewInboundUrl => "+ New URL",
        EditInboundUrl => "Edit inbound URL",
        EntradaEmpty => "Create your first inbound URL.",
        Slug => "End of the URL",
        SlugHint => "Lowercase letters, digits and hyphens. Filled in from the name.",
        AccessDays => "Days of access",
        AccessDaysHint => "Leave empty for lifetime access.",
        Lifetime => "Lifetime",
        Days => "days",
        TestUrl => "Test",
        DryRunTitle => "Test without saving",
        DryRunIntro => "Paste a notification from the platform (or pick a sample) and see what gancho would do. Nothing is saved or sent.",
        Payload => "Notification body",
        Headers => "Headers",
        HeadersHint => "One per line, as Name: value (for example, X-Hotmart-Hottok: …).",
        QueryString => "URL parameters",
        Sample => "Sample",
        SampleNone => "None (paste my own)",
        RunDryRun => "Test",
        DryRunNothingStored => "Test: nothing was saved or sent.",
        DryRunResult => "Test result",
        Detected => "Platform recognized",
        Proof => "Authenticity",
        ProofPassed => "Confirmed",
        ProofFailed => "Refused",
        NormalizedEvent => "Event",
        Effects => "Access",
        OutboundEvents => "Webhooks that would be sent",
        NoEffects => "None.",
        Outcome => "Outcome",
        ChavesTitle => "Keys",
        ChavesIntro => "A key proves a notification really came from the platform. Add one per platform.",
        GlobalUrl => "Global URL",
        GlobalUrlHint => "One URL for every platform: gancho recognizes where each sale came from.",
        NewKey => "+ New Key",
        KeysEmpty => "No keys yet. Add your payment platform's key.",
        Secret => "Secret",
        SecretHint => "Paste the platform's token, or generate one and paste it into the platform's panel.",
        Generate => "Generate secret",
        ApiKey => "Platform API key",
        ApiKeyHint => "Asaas only: gancho fetches the buyer's e-mail with it.",
        WhereToPaste => "Where to paste",
        KeyCreatedOnce => "Keep the secret now: afterwards it is shown masked.",
        SaidaTitle => "Outbound webhooks",
        SaidaIntro => "gancho tells your systems (members area, CRM) about every event, signed.",
        NewEndpoint => "+ New Webhook",
        EditEndpoint => "Edit webhook",
        EndpointsEmpty => "No webhooks yet. Create one to tell your system about every sale.",
        Events => "Events",
        EventsHint => "None ticked: every event.",
        EventCount => "Events",
        ProductFilter => "Only these products",
        ProductFilterHint => "None ticked: every product.",
        CustomHeaders => "Custom headers",
        HeaderName => "Header name",
        HeaderValue => "Header value",
        AddHeader => "+ Header",
        SendTest => "Send test",
        RotateSecret => "Rotate secret",
        SigningSecret => "Signing secret",
        Deliveries => "Delivery history",
        DeliveriesEmpty => "No deliveries yet.",
        Resend => "Resend",
        Attempts => "Attempts",
        EveryEvent => "All",
        LogsTitle => "Logs",
        Queue => "Delivery queue",
        QWaiting => "Waiting",
        QProcessing => "Processing",
        QLate => "Late",
        QDone => "Done",
        QFailed => "Failed",
        KpiEvents => "Events",
        KpiSuccess => "Success",
        KpiFailures => "Failures",
        KpiAvgTime => "Average time",
        ChartTitle => "Events per day",
        Period => "Period",
        LastDays => "Last days",
        Success => "Success",
        Failure => "Failure",
        Date => "Date",
        Event => "Event",
        Direction => "Direction",
        Customer => "Customer",
        Time => "Time",
        Webhook => "Webhook",
        In => "Inbound",
        Out => "Outbound",
        Email => "E-mail",
        ExportCsv => "Export CSV",
        LogsEmpty => "No events in this period. When a sale arrives, it shows here.",
        LogDetail => "Event detail",
        Response => "Response",
        Reprocess => "Reprocess",
        WhatIfReprocess => "What would happen if I reprocess now?",
        Error => "Error",
        StudentsTitle => "Students",
        StudentsIntro => "Search a student by e-mail to see and change their access.",
        StudentsEmpty => "No students yet. They appear when the first sale arrives.",
        StudentNotFound => "No student with this e-mail.",
        Access => "Access",
        AccessEmpty => "No access right now.",
        Source => "Source",
        Until => "Until",
        Forever => "No end",
        GrantAccess => "Grant access",
        Revoke => "Revoke",
        Product => "Product",
        Category => "Category",
        OutWouldApply => "Would be applied",
        OutDuplicate => "Received before: nothing would change",
        OutIgnored => "Would be ignored",
        OutWouldWait => "Would wait for the buyer's e-mail",
        OutProofFailed => "Authenticity refused",
        OutUnrecognized => "Format not recognized",
        OutInactiveUrl => "Inactive URL",
        OutRejected => "Would be refused",
        EffGrant => "Grant",
        EffExtend => "Extend",
        EffRevoke => "Revoke",
        EffEnd => "End",
        EffNone => "Nothing",
    }
}

/// pt-BR labels of outbound event types ("Produto Liberado"), for the
/// Saída form; English falls back to the type itself, which is what
/// developers on the receiving side see.
pub fn event_label(lang: Lang, event_type: &str) -> &str {
    let pt = match event_type {
        "purchase.approved" => "Compra Aprovada",
        "purchase.waiting_payment" => "Aguardando Pagamento",
        "purchase.refused" => "Compra Recusada",
        "purchase.refunded" => "Compra Reembolsada",
        "purchase.refund_requested" => "Reembolso Pedido",
        "purchase.chargeback" => "Chargeback",
        "purchase.dispute" => "Contestação",
        "purchase.canceled" => "Compra Cancelada",
        "purchase.expired" => "Compra Expirada",
        "purchase.completed" => "Compra Concluída",
        "subscription.renewed" => "Assinatura Renovada",
        "subscription.delayed" => "Assinatura Atrasada",
        "subscription.canceled" => "Assinatura Cancelada",
        "subscription.plan_changed" => "Plano Alterado",
        "cart.abandoned" => "Carrinho Abandonado",
        "access.granted" => "Produto Liberado",
        "access.revoked" => "Acesso Revogado",
        "access.expired" => "Acesso Expirado",
        "access.extended" => "Acesso Estendido",
        "student.created" => "Aluno Cadastrado",
        "student.updated" => "Aluno Atualizado",
        "student.first_access" => "Primeiro Acesso",
        "student.progress_updated" => "Progresso Atualizado",
        "student.module_completed" => "Módulo Concluído",
        "student.certificate_issued" => "Certificado Emitido",
        "student.canceled" => "Aluno Cancelado",
        "student.inactivated" => "Aluno Inativado",
        "student.reactivated" => "Aluno Reativado",
        "webhook.test" => "Teste de Webhook",
        other => other,
    };
    match lang {
        Lang::Pt => pt,
        Lang::En => event_type,
    }
}

/// A dry run's outcome (`DryRunOutcome::as_str`) in the language.
pub fn outcome_label(lang: Lang, code: &str) -> &str {
    let m = match code {
        "would_apply" => M::OutWouldApply,
        "duplicate" => M::OutDuplicate,
        "ignored" => M::OutIgnored,
        "would_wait_for_buyer" => M::OutWouldWait,
        "proof_failed" => M::OutProofFailed,
        "unrecognized" => M::OutUnrecognized,
        "inactive_url" => M::OutInactiveUrl,
        "rejected" => M::OutRejected,
        other => return other,
    };
    lang.t(m)
}

/// A dry run's access effect (`EffectAction::as_str`) in the language.
pub fn effect_label(lang: Lang, code: &str) -> &str {
    let m = match code {
        "grant" => M::EffGrant,
        "extend" => M::EffExtend,
        "revoke" => M::EffRevoke,
        "end" => M::EffEnd,
        "none" => M::EffNone,
        other => return other,
    };
    lang.t(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_chosen_only_when_preferred() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("pt-BR,pt;q=0.9,en;q=0.8"),
            Lang::Pt
        );
        assert_eq!(Lang::from_accept_language("en;q=0.5,pt;q=0.9"), Lang::Pt);
        assert_eq!(Lang::from_accept_language("de-DE"), Lang::Pt);
        assert_eq!(Lang::from_accept_language(""), Lang::Pt);
    }

    #[test]
    fn numbers_use_the_languages_marks() {
        assert_eq!(Lang::Pt.int(1234567), "1.234.567");
        assert_eq!(Lang::En.int(1234567), "1,234,567");
        assert_eq!(Lang::Pt.int(-12), "-12");
        assert_eq!(Lang::Pt.dec1(98.25), "98,2");
        assert_eq!(Lang::En.dec1(0.0), "0.0");
        assert_eq!(Lang::Pt.money(123450), "1.234,50");
        assert_eq!(Lang::En.money(-5), "-0.05");
    }

    #[test]
    fn every_dry_run_code_has_a_label_in_both_languages() {
        for o in crate::inbound::dry_run::DryRunOutcome::ALL {
            assert_ne!(outcome_label(Lang::Pt, o.as_str()), o.as_str());
            assert_ne!(outcome_label(Lang::En, o.as_str()), o.as_str());
        }
    }

    #[test]
    fn every_outbound_event_type_has_a_portuguese_label() {
        for t in crate::outbound::event::EVENT_TYPES {
            assert_ne!(event_label(Lang::Pt, t), t, "{t}");
        }
    }
}
