import Foundation
import OpenAPIRuntime
import PatronAPI
import PatronCore
import PatronEngine

/// The points ledger's operations: events and their review, balances, the ledger, redemptions,
/// holds, adjustments, transfers between members and jobs. The engine validates the bodies itself, so every fault comes back in one 422.
extension APIService {
    // MARK: Events

    func postEvent(_ input: Operations.PostEvent.Input) async throws -> Operations.PostEvent.Output {
        let result = try await engine.recordEvent(programCode: input.path.program, body: try rawBody(),
                                                  by: try RequestState.requirePrincipal())
        let receipt = try Components.Schemas.EventReceipt(result.receipt)
        return result.created ? .created(.init(body: .json(receipt))) : .ok(.init(body: .json(receipt)))
    }

    func previewEvent(_ input: Operations.PreviewEvent.Input) async throws -> Operations.PreviewEvent.Output {
        let receipt = try await engine.previewEvent(programCode: input.path.program, body: try rawBody(),
                                                    by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(receipt))))
    }

    func getEvent(_ input: Operations.GetEvent.Input) async throws -> Operations.GetEvent.Output {
        let receipt = try await engine.event(programCode: input.path.program, clientID: input.path.event,
                                             by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(receipt))))
    }

    func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        let page = try await engine.events(programCode: input.path.program, status: input.query.status?.rawValue,
                                           limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                           by: try RequestState.requirePrincipal())
        let items = try page.items.map(Components.Schemas.EventReceipt.init)
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    func releaseEvent(_ input: Operations.ReleaseEvent.Input) async throws -> Operations.ReleaseEvent.Output {
        let receipt = try await engine.releaseEvent(programCode: input.path.program, clientID: input.path.event,
                                                    body: input.body == nil ? .object([:]) : try rawBody(),
                                                    by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(receipt))))
    }

    func rejectEvent(_ input: Operations.RejectEvent.Input) async throws -> Operations.RejectEvent.Output {
        let receipt = try await engine.rejectEvent(programCode: input.path.program, clientID: input.path.event,
                                                   body: input.body == nil ? .object([:]) : try rawBody(),
                                                   by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(receipt))))
    }

    // MARK: Balance and ledger

    func getMemberBalance(_ input: Operations.GetMemberBalance.Input) async throws -> Operations.GetMemberBalance.Output {
        let balance = try await engine.balance(programCode: input.path.program, memberID: input.path.member,
                                               by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(.init(balance))))
    }

    func listMemberLedger(_ input: Operations.ListMemberLedger.Input) async throws -> Operations.ListMemberLedger.Output {
        let page = try await engine.ledger(programCode: input.path.program, memberID: input.path.member,
                                           limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                           by: try RequestState.requirePrincipal())
        let items = try page.items.map(Components.Schemas.Transfer.init)
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    // MARK: Spending

    func redeemPoints(_ input: Operations.RedeemPoints.Input) async throws -> Operations.RedeemPoints.Output {
        let (transfer, created) = try await engine.redeem(
            programCode: input.path.program, memberID: input.path.member, body: try rawBody(),
            requestKey: input.headers.idempotencyKey, by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.Transfer(transfer)
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func placeHold(_ input: Operations.PlaceHold.Input) async throws -> Operations.PlaceHold.Output {
        let (hold, created) = try await engine.placeHold(
            programCode: input.path.program, memberID: input.path.member, body: try rawBody(),
            requestKey: input.headers.idempotencyKey, by: try RequestState.requirePrincipal())
        let location = "/v1/programs/\(input.path.program)/members/\(hold.memberID)/holds/\(hold.id)"
        let body = try Components.Schemas.Hold(hold)
        return created ? .created(.init(headers: .init(location: location), body: .json(body)))
            : .ok(.init(headers: .init(location: location), body: .json(body)))
    }

    func getHold(_ input: Operations.GetHold.Input) async throws -> Operations.GetHold.Output {
        let hold = try await engine.hold(programCode: input.path.program, memberID: input.path.member,
                                         holdID: input.path.hold, by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(hold))))
    }

    func captureHold(_ input: Operations.CaptureHold.Input) async throws -> Operations.CaptureHold.Output {
        // Without a body the whole hold is captured.
        let body = input.body == nil ? JSONValue.object([:]) : try rawBody()
        let hold = try await engine.captureHold(programCode: input.path.program, memberID: input.path.member,
                                                holdID: input.path.hold, body: body,
                                                by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(hold))))
    }

    func voidHold(_ input: Operations.VoidHold.Input) async throws -> Operations.VoidHold.Output {
        let hold = try await engine.voidHold(programCode: input.path.program, memberID: input.path.member,
                                             holdID: input.path.hold, by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(hold))))
    }

    func adjustPoints(_ input: Operations.AdjustPoints.Input) async throws -> Operations.AdjustPoints.Output {
        let (transfer, created) = try await engine.adjust(
            programCode: input.path.program, memberID: input.path.member, body: try rawBody(),
            requestKey: input.headers.idempotencyKey, by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.Transfer(transfer)
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func reverseTransfer(_ input: Operations.ReverseTransfer.Input) async throws -> Operations.ReverseTransfer.Output {
        let (transfer, created) = try await engine.reverse(
            programCode: input.path.program, memberID: input.path.member, transferID: input.path.transfer,
            body: try rawBody(), requestKey: input.headers.idempotencyKey, by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.Transfer(transfer)
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func transferPoints(_ input: Operations.TransferPoints.Input) async throws -> Operations.TransferPoints.Output {
        let (transfer, created) = try await engine.transferPoints(
            programCode: input.path.program, memberID: input.path.member, body: try rawBody(),
            requestKey: input.headers.idempotencyKey, by: try RequestState.requirePrincipal())
        let body = Components.Schemas.PointsTransfer(sent: try .init(transfer.sent), received: try .init(transfer.received))
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    // MARK: Tiers

    func getMemberTier(_ input: Operations.GetMemberTier.Input) async throws -> Operations.GetMemberTier.Output {
        let standing = try await engine.tierStanding(programCode: input.path.program, memberID: input.path.member,
                                                     by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(standing))))
    }

    func listMemberTierHistory(_ input: Operations.ListMemberTierHistory.Input) async throws
        -> Operations.ListMemberTierHistory.Output {
        let page = try await engine.tierHistory(programCode: input.path.program, memberID: input.path.member,
                                                limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                                by: try RequestState.requirePrincipal())
        let items = try page.items.map(Components.Schemas.TierChange.init)
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    func assignMemberTier(_ input: Operations.AssignMemberTier.Input) async throws -> Operations.AssignMemberTier.Output {
        let change = try await engine.assignTier(programCode: input.path.program, memberID: input.path.member,
                                                 body: try rawBody(), by: try RequestState.requirePrincipal())
        return .created(.init(body: .json(try .init(change))))
    }

    // MARK: Benefits

    func getMemberEntitlements(_ input: Operations.GetMemberEntitlements.Input) async throws
        -> Operations.GetMemberEntitlements.Output {
        let entitlements = try await engine.entitlements(programCode: input.path.program, memberID: input.path.member,
                                                         by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(entitlements))))
    }

    func useBenefit(_ input: Operations.UseBenefit.Input) async throws -> Operations.UseBenefit.Output {
        let (receipt, created) = try await engine.useBenefit(
            programCode: input.path.program, memberID: input.path.member, benefitCode: input.path.benefit,
            body: try rawBody(), by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.BenefitUse(receipt)
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    // MARK: Plans

    func listMemberSubscriptions(_ input: Operations.ListMemberSubscriptions.Input) async throws
        -> Operations.ListMemberSubscriptions.Output {
        let items = try await engine.subscriptions(programCode: input.path.program, memberID: input.path.member,
                                                   by: try RequestState.requirePrincipal())
        let now = engine.now()
        return .ok(.init(body: .json(.init(items: try items.map { try .init($0, now: now) }))))
    }

    func subscribeMember(_ input: Operations.SubscribeMember.Input) async throws -> Operations.SubscribeMember.Output {
        let (subscription, created) = try await engine.subscribe(programCode: input.path.program, memberID: input.path.member,
                                                                 body: try rawBody(), by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.Subscription(subscription, now: engine.now())
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func renewSubscription(_ input: Operations.RenewSubscription.Input) async throws -> Operations.RenewSubscription.Output {
        let (subscription, payment, created) = try await engine.renewSubscription(
            programCode: input.path.program, memberID: input.path.member, subscriptionID: input.path.subscription,
            body: try rawBody(), by: try RequestState.requirePrincipal())
        let body = try Components.Schemas.Subscription(subscription, now: engine.now(), reward: payment.reward)
        return created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func listSubscriptionPayments(_ input: Operations.ListSubscriptionPayments.Input) async throws
        -> Operations.ListSubscriptionPayments.Output {
        let payments = try await engine.subscriptionPayments(
            programCode: input.path.program, memberID: input.path.member, subscriptionID: input.path.subscription,
            by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(.init(items: payments.map(Components.Schemas.SubscriptionPayment.init)))))
    }

    func cancelSubscription(_ input: Operations.CancelSubscription.Input) async throws -> Operations.CancelSubscription.Output {
        let subscription = try await engine.cancelSubscription(
            programCode: input.path.program, memberID: input.path.member, subscriptionID: input.path.subscription,
            body: try rawBody(), by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(subscription, now: engine.now()))))
    }

    // MARK: Jobs

    func runJob(_ input: Operations.RunJob.Input) async throws -> Operations.RunJob.Output {
        var asOf: Date?
        if case .json(let body)? = input.body, let text = body.asOf {
            asOf = try Date(clientTime: text, field: "as_of")
        }
        let report = try await engine.runJob(programCode: input.path.program, job: input.path.job, asOf: asOf,
                                             by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(report))))
    }

    func runSimulation(_ input: Operations.RunSimulation.Input) async throws -> Operations.RunSimulation.Output {
        let report = try await engine.simulate(programCode: input.path.program,
                                               body: try JSONValue(parsing: RequestState.body ?? Data()),
                                               by: try RequestState.requirePrincipal())
        let json = SimulationReportJSON.value(report).canonicalData()
        return .ok(.init(body: .json(try JSONDecoder().decode(Components.Schemas.SimulationReport.self, from: json))))
    }
}
